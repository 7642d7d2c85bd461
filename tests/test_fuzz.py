"""Hostile and random input: the loader never crashes, markup stays inert everywhere, the API never 500s."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kb.document import parse_document
from kb.kit import Order
from kb.vocab import load_vocabulary
from tests.conftest import CORPUS, csrf_of, front_matter, login, render
from web.rendering import render_markdown

VOCAB = load_vocabulary(CORPUS)
XSS = '<script>alert(1)</script><img src=x onerror=alert(2)>"><svg onload=alert(3)>'
yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=10)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=2000))
def test_any_text_parses_without_crashing(text):
    doc, problems = parse_document(text, Path("case/case-x.md"), VOCAB)
    lines = max(1, text.count("\n") + 1)
    assert doc is not None or problems
    for problem in problems:
        assert problem.path == "case/case-x.md" and 1 <= problem.line <= lines + 1 and problem.message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["id", "title", "kind", "status", "themes", "formats", "duration_minutes",
                                        "headcount", "summary", "updated", "agenda", "branch_size", "extra"]),
                       yaml_values, max_size=10))
def test_any_front_matter_values_are_reported_not_raised(values):
    import yaml

    try:
        text = "---\n" + yaml.safe_dump(values, allow_unicode=True) + "---\n\n正文" * 50
    except yaml.YAMLError:
        return
    doc, problems = parse_document(text, Path("case/case-x.md"), VOCAB)
    assert doc is not None or all(p.line >= 1 and p.field for p in problems)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=500))
def test_markdown_rendering_never_emits_live_markup(text):
    html = str(render_markdown(text + XSS))
    assert "<script" not in html and "<img" not in html.replace("<img src=\"", "") and "<svg" not in html
    assert "javascript:" not in str(render_markdown(f"[x](javascript:alert(1)) {text}")).replace("javascript:alert(1))", "")


def test_hostile_document_is_inert_in_pages_kiosk_and_exports(curator_app, tmp_path):
    app, client = curator_app
    kb = app.state.kb
    body = f"## 背景 {XSS}\n\n" + ("一个支部的做法说明文字。" * 40) + f"\n\n[点我](javascript:alert(4))\n\n{XSS}\n"
    fm = front_matter(id="case-hostile", title=f"恶意标题{XSS}", summary=f"摘要{XSS}" * 2,
                      industry=f"行业{XSS}", themes=["革命传统"])
    (kb.settings.library / "case" / "case-hostile.md").write_text(render(fm, body), encoding="utf-8")
    venue = kb.settings.library / "venue" / "venue-hongling-huijie.md"
    venue.write_text(venue.read_text(encoding="utf-8").replace("\ntitle: ", f"\ntitle: {XSS}", 1), encoding="utf-8")
    from indexer.build import update_index

    update_index(kb)
    login(client, "ziliaoyuan", "correct-horse-1")
    token = csrf_of(client, "/docs/case-hostile")
    client.post("/docs/case-hostile/feedback", data={"rating": "5", "note": f"备注{XSS}", "csrf": token})
    responses = [client.get("/docs/case-hostile"), client.get("/search", params={"q": f"恶意标题 {XSS}"}),
                 client.get("/curator"), client.get("/venues/venue-hongling-huijie/screen"),
                 client.get("/kit", params={"q": f"缅怀先烈 {XSS}"})]
    assert [r.status_code for r in responses] == [200] * 5
    pages = [r.text for r in responses]
    assert "恶意标题" in pages[0] and "备注" in pages[0] and "alert(1)" in pages[3]
    kit = kb.order(Order(f"缅怀先烈 {XSS}"), today=dt.date(2026, 3, 30))
    from kb.export import to_docx, to_html, to_markdown

    pages.append(to_html(kit))
    import re

    assert re.search(r"(?<!\\)<", to_markdown(kit)) is None  # Markdown export: every < is escaped
    for html in pages:
        assert "<script>alert" not in html and "<img src=x" not in html and "<svg onload" not in html
        assert 'href="javascript:' not in html
    assert "&lt;script&gt;" in pages[0]
    from docx import Document

    text = "\n".join(p.text for p in Document(io.BytesIO(to_docx(kit))).paragraphs)
    assert "缅怀先烈" in text  # the docx holds the text as text (Word does not run it)


def test_api_fuzzing_finds_no_server_errors(full_kb):
    import schemathesis
    from schemathesis.checks import not_a_server_error

    from web.app import create_app

    schema = schemathesis.openapi.from_asgi("/api/openapi.json", create_app(kb=full_kb))
    failures, calls = [], []
    def exercise(op):
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        @given(case=op.as_strategy())
        def run(case):
            response = case.call()
            calls.append(op.label)
            if response.status_code >= 500:
                failures.append((op.label, response.status_code, case.path_parameters, case.query, case.body))
            case.validate_response(response, checks=[not_a_server_error])

        run()

    for operation in schema.get_all_operations():
        exercise(operation.ok())
    assert failures == []
    assert len(set(calls)) >= 7 and len(calls) >= 100  # every API operation was really exercised
