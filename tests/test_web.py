"""Every route through TestClient: pages, JSON twins, exports, API, error statuses."""

from __future__ import annotations

import io
import re

import pytest

from tests.conftest import csrf_of

PAGES = [
    "/", "/search?q=清明节带大家去缅怀先烈", "/search?q=廉洁&kind=lecture", "/docs/case-rotating-open-party-day",
    "/docs/lecture-b-yuhua-martyrs-spirit", "/kit?q=廉洁教育 一小时&headcount=12",
    "/venues/venue-hongling-huijie/screen",
]


@pytest.mark.parametrize("path", PAGES)
def test_pages_render_with_security_headers(web_client, path):
    response = web_client.get(path)
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in response.text  # no inline scripts anywhere (CSP)


@pytest.mark.parametrize("path", ["/", "/search?q=清明", "/docs/case-rotating-open-party-day",
                                  "/kit?q=廉洁教育 一小时", "/venues/venue-hongling-huijie/screen"])
def test_every_page_has_a_json_twin(web_client, path):
    base, _, query = path.partition("?")
    twin = ("/index" if base == "/" else base)
    twin_path = "/.json" if base == "/" else f"{twin}.json"
    response = web_client.get(twin_path + (f"?{query}" if query else ""))
    assert response.status_code == 200, twin_path
    assert response.headers["content-type"] == "application/json"
    assert isinstance(response.json(), dict) and response.json()


def test_search_page_highlights_and_facets(web_client):
    data = web_client.get("/search.json", params={"q": "廉洁教育 一小时"}).json()
    assert data["hits"] and data["understood"]["themes"] == ["廉洁教育"]
    assert any(kind == "lecture" for kind, _ in data["facets"]["kind"])
    html = web_client.get("/search", params={"q": "廉洁教育 一小时"}).text
    assert "<mark>廉洁</mark>" in html or "<mark>廉洁教育</mark>" in html
    filtered = web_client.get("/search.json", params={"q": "廉洁", "kind": "lecture"}).json()
    assert filtered["hits"] and {h["kind"] for h in filtered["hits"]} == {"lecture"}


def test_kit_page_exports_and_share_link(web_client):
    data = web_client.get("/kit.json", params={"q": "清明节带大家去缅怀先烈", "duration": "90", "headcount": "15"}).json()
    kit = data["kit"]
    assert kit["total_minutes"] == 90 and kit["lecture"] and kit["cases"]
    kit_id = kit["id"]
    shared = web_client.get(f"/kits/{kit_id}.json").json()["kit"]
    assert shared["id"] == kit_id and shared["lecture"]["doc_id"] == kit["lecture"]["doc_id"]
    docx = web_client.get(f"/kits/{kit_id}.docx")
    assert docx.status_code == 200 and docx.headers["content-type"].startswith("application/vnd.openxml")
    from docx import Document

    assert kit["lecture"]["title"] in "\n".join(p.text for p in Document(io.BytesIO(docx.content)).paragraphs)
    md = web_client.get(f"/kits/{kit_id}.md")
    assert md.status_code == 200 and "## 活动议程（共 90 分钟）" in md.text
    printable = web_client.get(f"/kits/{kit_id}/print")
    assert printable.status_code == 200 and "@media print" in printable.text
    assert web_client.get(data["share"]).status_code == 200


def test_feedback_on_kit_and_document(web_client, full_kb):
    kit_id = web_client.get("/kit.json", params={"q": "学雷锋 志愿服务"}).json()["kit"]["id"]
    before = full_kb.store.feedback_count()
    token = csrf_of(web_client, "/docs/case-rotating-open-party-day")
    response = web_client.post(f"/kits/{kit_id}/feedback", data={"rating": "5", "note": "好用", "csrf": token},
                               follow_redirects=False)
    assert response.status_code == 303
    response = web_client.post("/docs/case-rotating-open-party-day/feedback",
                               data={"rating": "4", "csrf": token}, follow_redirects=False)
    assert response.status_code == 303
    assert full_kb.store.feedback_count() == before + 2
    no_token = web_client.post("/docs/case-rotating-open-party-day/feedback", data={"rating": "4"})
    assert no_token.status_code == 403 and full_kb.store.feedback_count() == before + 2
    bad = web_client.post("/docs/case-rotating-open-party-day/feedback", data={"rating": "9", "csrf": token})
    assert bad.status_code == 422


def test_api_endpoints(web_client):
    found = web_client.get("/api/search", params={"q": "党费怎么交", "limit": 5}).json()
    assert 1 <= len(found["hits"]) <= 5
    kit = web_client.post("/api/kits", json={"text": "国家安全 一小时", "headcount": 20}).json()
    assert kit["total_minutes"] == 60
    assert web_client.get(f"/api/kits/{kit['id']}").json()["id"] == kit["id"]
    doc = web_client.get("/api/docs/policy-zhibu-gongzuo-tiaoli-2018").json()
    assert doc["kind"] == "policy" and "第五条" in doc["body"]
    similar = web_client.get("/api/docs/case-b-qingming-yuhuatai-lawfirm/similar").json()
    assert similar["hits"] and all(h["doc_id"] != "case-b-qingming-yuhuatai-lawfirm" for h in similar["hits"])
    created = web_client.post("/api/feedback", json={"target_type": "doc", "target_id": "case-rotating-open-party-day",
                                                     "rating": 5, "note": "好"})
    assert created.status_code == 201
    assert web_client.get("/api/calendar", params={"date": "2026-03-20"}).json()[0]["name"] == "清明节"
    schema = web_client.get("/api/openapi.json").json()
    assert {"/api/search", "/api/kits", "/api/docs/{doc_id}", "/api/feedback"} <= set(schema["paths"])
    assert web_client.get("/api/docs").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "payload", "status"),
    [
        ("get", "/docs/no-such-doc", None, 404),
        ("get", "/docs/..%2F..%2Fetc%2Fpasswd", None, 404),
        ("get", "/docs/case-rotating-open-party-day.json.json", None, 404),
        ("get", "/kits/deadbeef00", None, 404),
        ("get", "/kits/deadbeef00.docx", None, 404),
        ("get", "/venues/no-such/screen", None, 404),
        ("get", "/venues/case-rotating-open-party-day/screen", None, 404),
        ("get", "/api/docs/no-such-doc", None, 404),
        ("get", "/api/docs/no-such-doc/similar", None, 404),
        ("get", "/no/such/page", None, 404),
        ("get", "/kit?q=", None, 422),
        ("get", "/kit?q=党课&duration=一小时", None, 422),
        ("get", "/kit?q=党课&formats=跳舞", None, 422),
        ("get", "/kit?q=党课&date=2026-13-01", None, 422),
        ("get", "/search?q=党课&kind=essay", None, 422),
        ("get", "/search?q=党课&duration=abc", None, 422),
        ("get", "/api/search", None, 422),
        ("get", "/api/search?q=%20", None, 422),
        ("get", "/api/search?q=党课&theme=英烈", None, 422),
        ("get", "/api/search?q=党课&limit=0", None, 422),
        ("post", "/api/kits", {"text": ""}, 422),
        ("post", "/api/kits", {"text": "党课", "duration": "很久"}, 422),
        ("post", "/api/kits", {"text": "党课", "formats": ["跳舞"]}, 422),
        ("post", "/api/feedback", {"target_type": "doc", "target_id": "case-rotating-open-party-day", "rating": 9}, 422),
        ("post", "/api/feedback", {"target_type": "doc", "target_id": "no-such-doc", "rating": 3}, 404),
        ("post", "/api/feedback", {"target_type": "kit", "target_id": "nokit", "rating": 3}, 404),
        ("post", "/api/feedback", {"target_type": "spam", "target_id": "x", "rating": 3}, 422),
    ],
)
def test_errors_have_the_right_status_and_a_message(web_client, method, path, payload, status):
    response = getattr(web_client, method)(path, **({"json": payload} if payload is not None else {}))
    assert response.status_code == status, response.text[:300]
    if response.headers["content-type"].startswith("application/json"):
        assert response.json()["error"]
    else:
        assert "Traceback" not in response.text and re.search(r"[\u4e00-\u9fff]", response.text)


def test_malformed_json_body_is_422(web_client):
    response = web_client.post("/api/kits", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422 and response.json()["error"]


def test_query_and_order_text_are_escaped(web_client):
    payload = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    for path in (f"/search?q={payload}", f"/kit?q={payload}"):
        html = web_client.get(path).text
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;" in html


def test_dependencies_run_on_the_event_loop():
    """A plain-def dependency is run in the thread pool: a thread round trip on every request."""
    import inspect

    from web.routes import admin, api, auth, curator, docs, kiosk, kits, search

    def calls(dependant):
        for dep in dependant.dependencies:
            yield dep.call
            yield from calls(dep)

    routes = [r for m in (admin, api, auth, curator, docs, kiosk, kits, search) for r in m.router.routes]
    found = {call for route in routes for call in calls(route.dependant)}
    assert found, "no dependencies found: the check would pass vacuously"
    blocking = sorted(c.__qualname__ for c in found if not inspect.iscoroutinefunction(c))
    assert blocking == []


def test_requests_in_flight_are_counted_for_the_embedder(web_client, monkeypatch):
    """A query's model threads are sized by the other requests being served (kb.embed.e5.team_size)."""
    kb = web_client.app.state.kb
    seen, search = [], kb.searcher.search

    def watched(*args, **kwargs):
        seen.append((kb.activity.count, kb.embedder.busy()))
        with kb.activity:  # as if a second request were being served at the same time
            seen.append((kb.activity.count, kb.embedder.busy()))
        return search(*args, **kwargs)

    monkeypatch.setattr(kb.searcher, "search", watched)
    assert web_client.get("/search", params={"q": "廉洁教育"}).status_code == 200
    assert seen == [(1, 0), (2, 1)]
    assert kb.activity.count == 0
