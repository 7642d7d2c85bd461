"""Every test runs isolated: its own data folder, no network, no model download."""

from __future__ import annotations

import socket
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
REALDOCS = ROOT / "tests" / "data" / "realdocs"  # copies of ../shared/realdocs (see its README)

BODY = textwrap.dedent("""\
    ## 背景

    某软件公司党支部有党员十二名，多数是九零后技术骨干，工作节奏快，过去的组织生活常常是读文件、签到、散会，
    大家参与的积极性不高。支部书记希望把清明节前后的主题党日办得更有分量，让年轻党员真正受到触动。

    ## 做法

    第一步，支部提前两周发布活动预告，请每位党员认领一位雨花英烈，查阅生平资料，准备三分钟的分享。
    第二步，清明节前的周六上午，全体党员乘地铁前往雨花台烈士陵园，在纪念碑前敬献花篮、重温入党誓词。
    第三步，在陵园内的纪念馆分组参观，由认领英烈的党员在展板前讲述英烈的故事，其他党员补充提问。
    第四步，回到公司后召开简短的交流会，每人写下一句参观感悟，汇编成册，在公司内部公众号发布。

    ## 成效

    活动参与率达到百分之百，两名入党积极分子主动要求参加，公司员工对支部活动的关注明显提高。
    参加活动的党员普遍表示，亲自查资料、讲故事比单纯听讲解印象深得多，活动记录也成了支部的优秀案例。

    ## 可借鉴之处与注意事项

    认领英烈、现场讲述的方式适合年轻党员多的支部；需要提前预约团体参观，具体以场馆公告为准；
    注意控制队伍秩序，保持庄重肃穆，不在纪念区域嬉笑拍照；交通安排要留出余量，避免迟到影响仪式。
    """)


def front_matter(**overrides) -> dict:
    data = {
        "id": "case-sample",
        "title": "示例支部清明节缅怀英烈",
        "kind": "case",
        "status": "published",
        "themes": ["革命传统", "雨花英烈精神"],
        "formats": ["参观", "仪式"],
        "audience": ["青年党员"],
        "duration_minutes": 180,
        "headcount": {"min": 8, "max": 20},
        "summary": "一个十二人的软件公司支部在清明节前组织党员认领英烈、现场讲述，活动参与率达到百分之百。",
        "source": "示例",
        "updated": "2026-03-20",
        "branch_type": "单独组建党支部",
        "industry": "软件和信息技术服务",
        "branch_size": 12,
    }
    for key, value in overrides.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def render(fm: dict, body: str = BODY) -> str:
    import yaml

    return "---\n" + yaml.safe_dump(fm, allow_unicode=True, sort_keys=False) + "---\n\n" + body


@pytest.fixture
def make_doc():
    """Render a valid document, with field overrides (``None`` removes a field)."""

    def make(body: str = BODY, **overrides) -> str:
        return render(front_matter(**overrides), body)

    return make


@pytest.fixture(autouse=True)
def _isolate(tmp_path, monkeypatch):
    monkeypatch.setenv("KB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    real_connect = socket.socket.connect

    def guarded(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in ("127.0.0.1", "localhost", "::1") and not host.startswith("/"):
            raise OSError(f"network access blocked in tests: {address}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


SMALL_LIBRARY = [
    "case/case-rotating-open-party-day.md",
    "case/case-b-qingming-yuhuatai-lawfirm.md",
    "case/case-a-backbone-micro-pairing.md",
    "case/case-b-lianjie-fintech-compliance.md",
    "case/case-a-my-film-party-lesson.md",
    "lecture/lecture-b-yuhua-martyrs-spirit.md",
    "lecture/lecture-a-liuxiang-jilv-chufen-tiaoli.md",
    "lecture/lecture-a-ershida-qingnian.md",
    "site/site-yuhuatai-martyrs-cemetery.md",
    "site/site-meiyuan-xincun-memorial.md",
    "plan/plan-qingming-martyrs-tribute.md",
    "plan/plan-standard-party-day-90.md",
    "plan/plan-integrity-warning-education-60.md",
    "plan/plan-film-party-lecture.md",
    "venue/venue-hongling-huijie.md",
    "policy/policy-zhibu-gongzuo-tiaoli-2018.md",
]


def copy_library(target: Path, files: list[str] | None = None) -> Path:
    """A library folder with the bundled vocabularies and some (or all) bundled documents."""
    import shutil

    target.mkdir(parents=True, exist_ok=True)
    for name in ("themes.yaml", "vocab.yaml", "calendar.yaml"):
        shutil.copy(CORPUS / name, target / name)
    if files is None:
        shutil.copytree(CORPUS, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("eval"))
    else:
        for rel in files:
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(CORPUS / rel, target / rel)
    return target


@pytest.fixture
def small_library(tmp_path) -> Path:
    return copy_library(tmp_path / "library", SMALL_LIBRARY)


@pytest.fixture
def small_kb(small_library, tmp_path):
    """A KB over the small library with the hash embedder, index built."""
    from indexer.build import update_index
    from kb.service import KB
    from kb.settings import Settings
    from tests.fakes import HashEmbedder

    kb = KB(Settings(library=small_library, data_dir=tmp_path / "data"), embedder=HashEmbedder())
    update_index(kb)
    return kb


@pytest.fixture(scope="session")
def full_kb(tmp_path_factory):
    """The whole bundled library indexed once per session with the hash embedder."""
    from indexer.build import update_index
    from kb.service import KB
    from kb.settings import Settings
    from tests.fakes import HashEmbedder

    root = tmp_path_factory.mktemp("full")
    kb = KB(Settings(library=copy_library(root / "library"), data_dir=root / "data"), embedder=HashEmbedder())
    update_index(kb)
    return kb


def csrf_of(client, path: str = "/login") -> str:
    """The CSRF token the session's forms carry (read from a page, as a browser would)."""
    import re

    html = client.get(path).text
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, f"no csrf token on {path}"
    return match.group(1)


def login(client, name: str, password: str) -> None:
    token = csrf_of(client, "/login")
    response = client.post("/login", data={"name": name, "password": password, "csrf": token},
                           follow_redirects=False)
    assert response.status_code == 303, response.text


@pytest.fixture(scope="session")
def web_client(full_kb):
    """A client for the app over the whole library (read-mostly tests)."""
    from fastapi.testclient import TestClient

    from web.app import create_app

    with TestClient(create_app(kb=full_kb)) as client:
        yield client


@pytest.fixture
def curator_app(small_kb):
    """The app over a small library of its own, with a curator and an admin account."""
    from fastapi.testclient import TestClient

    from kb.auth import add_user
    from web.app import create_app

    add_user(small_kb.store, "ziliaoyuan", "correct-horse-1", "curator")
    add_user(small_kb.store, "guanliyuan", "correct-horse-2", "admin")
    app = create_app(kb=small_kb)
    with TestClient(app) as client:
        yield app, client
