"""Real Chromium (Debian's package) driven by Playwright: phone order → printable kit; curator upload →
publish → search; the venue screen rotating. Screenshots go to test-output/screenshots/."""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "test-output" / "screenshots"
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (.ci/run installs it)")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(small_kb):
    import uvicorn

    from kb.auth import add_user
    from web.app import create_app

    add_user(small_kb.store, "ziliaoyuan", "correct-horse-1", "curator")
    app = create_app(kb=small_kb)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", app
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield b
        b.close()


def test_secretary_orders_on_a_phone_and_prints_the_kit(server, browser):
    base, _ = server
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True, locale="zh-CN")
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(base + "/")
    page.screenshot(path=str(SHOTS / "01-home-phone.png"), full_page=True)
    page.fill("#q", "清明节带大家去缅怀先烈")
    page.click("details summary")
    page.fill("input[name=duration]", "180")
    page.fill("input[name=headcount]", "12")
    page.click("button.primary")
    page.wait_for_url(re.compile(r"/kit\?"))
    assert page.locator("h1").first.inner_text() == "活动资料包"
    page.screenshot(path=str(SHOTS / "02-kit-phone.png"), full_page=True)
    rows = page.locator("table.agenda tbody tr")
    assert rows.count() >= 3
    minutes = sum(int(rows.nth(i).locator("td").nth(1).inner_text()) for i in range(rows.count()))
    assert minutes == 180
    assert page.locator("p.why").count() >= 4  # every item says why it was chosen
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # nothing wider than the phone
    page.emulate_media(media="print")
    assert page.locator("header.top").is_hidden() and page.locator(".actions").first.is_hidden()
    page.screenshot(path=str(SHOTS / "03-kit-print.png"), full_page=True)
    page.emulate_media(media="screen")
    with context.expect_page() as popup:
        page.click("text=打印版")
    printable = popup.value
    printable.wait_for_load_state()
    assert "活动议程（共 180 分钟）" in printable.content()
    printable.screenshot(path=str(SHOTS / "04-kit-printable.png"), full_page=True)
    assert errors == []
    context.close()


def test_curator_uploads_docx_publishes_and_finds_it(server, browser, tmp_path):
    base, app = server
    from tests.test_curator import make_docx

    docx = tmp_path / "读书会.docx"
    docx.write_bytes(make_docx([
        ("Title", "物流公司支部的“一本书一座城”读书会"), ("Heading 1", "背景"),
        ("Normal", "一家物流公司党支部有党员十一名，分散在三个仓库，平时很难聚在一起学习，书记想找一种轻负担的学习方式。" * 3),
        ("Heading 1", "做法"),
        ("Normal", "支部每月选一本讲南京城市历史的书，分章节认领，每周在线上群里打卡摘抄，月底在仓库会议室开一次分享会。" * 3),
        ("Heading 1", "成效"),
        ("Normal", "半年坚持下来，打卡率保持在八成以上，三名青年员工主动参加，读书会的分享稿被片区党委推荐。" * 3)]))
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page.goto(base + "/login")
    page.fill("input[name=name]", "ziliaoyuan")
    page.fill("input[name=password]", "correct-horse-1")
    page.click("button.primary")
    page.wait_for_url(base + "/curator")
    page.goto(base + "/curator/new")
    page.set_input_files("input[type=file]", str(docx))
    page.select_option("select[name=kind]", "case")
    page.click("text=上传并转换")
    page.wait_for_url(re.compile(r"/curator/drafts/"))
    assert page.input_value("#f-title") == "物流公司支部的“一本书一座城”读书会"
    page.screenshot(path=str(SHOTS / "05-curator-draft.png"), full_page=True)
    page.fill("#f-id", "case-logistics-reading-club")
    page.select_option("#f-status", "published")
    for theme in ("红色文化", "党史学习"):
        page.check(f"input[name=themes][value={theme}]")
    page.check("input[name=formats][value=读书会]")
    page.fill("#f-duration_minutes", "90")
    page.fill("#f-headcount", "6-30")
    page.fill("#f-summary", "物流公司支部用每月一本书、每周线上打卡、月底分享会的方式坚持学习。")
    page.fill("#f-branch_type", "单独组建党支部")
    page.fill("#f-industry", "物流")
    page.fill("#f-branch_size", "11")
    page.click("button[value=publish]")
    page.wait_for_url(re.compile(r"/docs/case-logistics-reading-club"))
    assert "已发布" in page.content()
    deadline = time.time() + 30
    while app.state.index_job.state.running and time.time() < deadline:
        time.sleep(0.1)
    page.goto(base + "/search?q=仓库 读书会 打卡")
    first = page.locator("ol.hits li a.title").first
    assert first.inner_text() == "物流公司支部的“一本书一座城”读书会"
    page.screenshot(path=str(SHOTS / "06-search-finds-upload.png"), full_page=True)
    page.goto(base + "/curator")
    page.screenshot(path=str(SHOTS / "07-curator-dashboard.png"), full_page=True)
    page.close()


def test_venue_screen_rotates_by_itself(server, browser):
    base, _ = server
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.goto(base + "/venues/venue-hongling-huijie/screen?interval=1")
    assert page.locator(".slide").count() >= 2
    assert page.locator(".slide.active svg").count() == 1  # a QR code on the visible slide
    first = page.locator(".slide.active h1").inner_text()
    page.screenshot(path=str(SHOTS / "08-venue-screen.png"))
    deadline = time.time() + 5  # polled from Python: the page's CSP forbids eval, as it should
    while page.get_attribute("body", "data-slide") == "0" and time.time() < deadline:
        time.sleep(0.1)
    second = page.locator(".slide.active h1").inner_text()
    assert second != first
    font = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.slide.active h1')).fontSize)")
    assert font >= 80  # readable from across a lobby on a 1080p screen
    page.screenshot(path=str(SHOTS / "09-venue-screen-next.png"))
    page.close()


def test_no_request_leaves_the_machine(server, browser):
    base, _ = server
    page = browser.new_page()
    outside = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(base) and not r.url.startswith("data:") else None)
    for path in ("/", "/search?q=党课", "/docs/case-rotating-open-party-day", "/venues/venue-hongling-huijie/screen"):
        page.goto(base + path)
    assert outside == []
    page.close()


def teardown_module(module):
    shutil.rmtree(ROOT / "test-output" / "tmp", ignore_errors=True)
