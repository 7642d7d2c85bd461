"""Access control, walked over every registered route so a new route cannot be forgotten."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute

from tests.conftest import csrf_of, login

PROTECTED = {"/curator": "curator", "/admin": "admin"}
SAMPLE = {"doc_id": "case-rotating-open-party-day", "draft_id": "case-nothing-here", "op": "retire",
          "version": "20260101T000000000000", "name": "ziliaoyuan"}


def api_routes(routes):
    """Every APIRoute, including those inside included routers (FastAPI keeps them nested)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from api_routes(inner.routes)


def protected_routes(app):
    for route in api_routes(app.routes):
        role = next((r for prefix, r in PROTECTED.items() if route.path.startswith(prefix)), None)
        if role:
            path = re.sub(r"\{(\w+)\}", lambda m: SAMPLE[m.group(1)], route.path)
            for method in route.methods:
                yield method, path, role


def test_there_are_protected_routes(curator_app):
    app, _ = curator_app
    routes = list(protected_routes(app))
    assert len(routes) >= 20
    assert {r for _, _, r in routes} == {"curator", "admin"}


def test_every_protected_route_refuses_anonymous_and_wrong_role(curator_app):
    app, client = curator_app
    anonymous_token = csrf_of(client, "/login")
    failures = []
    for method, path, _role in protected_routes(app):
        data = {"csrf": anonymous_token} if method == "POST" else None
        response = client.request(method, path, data=data, follow_redirects=False)
        if method == "GET" and not path.endswith(".json"):
            ok = response.status_code == 303 and response.headers["location"].startswith("/login")
        else:
            ok = response.status_code == 401
        if not ok:
            failures.append(("anonymous", method, path, response.status_code))
    login(client, "ziliaoyuan", "correct-horse-1")
    curator_token = csrf_of(client, "/curator")
    for method, path, role in protected_routes(app):
        if role != "admin":
            continue
        data = {"csrf": curator_token} if method == "POST" else None
        response = client.request(method, path, data=data, follow_redirects=False)
        if response.status_code != 403:
            failures.append(("curator", method, path, response.status_code))
    assert failures == []


def test_api_has_no_write_route_open_to_change_the_library(curator_app):
    app, _ = curator_app
    writes = [(r.path, m) for r in api_routes(app.routes) if r.path.startswith("/api")
              for m in r.methods if m in ("POST", "PUT", "PATCH", "DELETE")]
    assert sorted(writes) == [("/api/feedback", "POST"), ("/api/kits", "POST")]


def test_state_changing_forms_need_the_csrf_token(curator_app):
    app, client = curator_app
    login(client, "ziliaoyuan", "correct-horse-1")
    for path in ("/curator/reindex", "/curator/docs/case-rotating-open-party-day/retire", "/logout"):
        assert client.post(path, data={}, follow_redirects=False).status_code == 403
        assert client.post(path, data={"csrf": "forged"}, follow_redirects=False).status_code == 403
    assert app.state.kb.library(reload=True).get("case-rotating-open-party-day").status == "published"


def test_admin_can_manage_users_and_curator_cannot(curator_app):
    app, client = curator_app
    login(client, "guanliyuan", "correct-horse-2")
    token = csrf_of(client, "/admin/users")
    created = client.post("/admin/users", data={"csrf": token, "name": "xinren", "password": "password-123",
                                                "role": "curator"}, follow_redirects=False)
    assert created.status_code == 303
    assert {u["name"] for u in client.get("/admin/users.json").json()["users"]} >= {"xinren"}
    weak = client.post("/admin/users", data={"csrf": token, "name": "weak", "password": "123", "role": "curator"})
    assert weak.status_code == 400 and "至少 8 个字符" in weak.text
    disabled = client.post("/admin/users/xinren", data={"csrf": token, "disabled": "1"}, follow_redirects=False)
    assert disabled.status_code == 303
    other = type(client)(app)
    token = csrf_of(other, "/login")
    refused = other.post("/login", data={"csrf": token, "name": "xinren", "password": "password-123"})
    assert refused.status_code == 401


def test_session_cookie_is_httponly_and_samesite(curator_app):
    _, client = curator_app
    response = client.get("/login")
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


def test_login_is_rate_limited(curator_app):
    app, client = curator_app
    token = csrf_of(client, "/login")
    statuses = [client.post("/login", data={"csrf": token, "name": "ziliaoyuan", "password": f"wrong-{i}"}).status_code
                for i in range(6)]
    assert statuses[:5] == [401] * 5 and statuses[5] == 429
    locked = client.post("/login", data={"csrf": token, "name": "ziliaoyuan", "password": "correct-horse-1"})
    assert locked.status_code == 429  # even the right password waits


def test_open_redirect_after_login_is_refused(curator_app):
    _, client = curator_app
    token = csrf_of(client, "/login")
    response = client.post("/login", data={"csrf": token, "name": "ziliaoyuan", "password": "correct-horse-1",
                                           "next": "//evil.example/x"}, follow_redirects=False)
    assert response.headers["location"] == "/curator"


def test_require_login_setting_closes_reading(small_kb, tmp_path):
    from fastapi.testclient import TestClient

    from web.app import create_app

    small_kb.settings.require_login = True
    client = TestClient(create_app(kb=small_kb))
    assert client.get("/search.json", params={"q": "党课"}).status_code == 401
    assert client.get("/api/search", params={"q": "党课"}).status_code == 401
    assert client.get("/search", params={"q": "党课"}, follow_redirects=False).status_code == 303


@pytest.mark.parametrize("frame", ["'self'", "'self' https://screen.example.gov.cn"])
def test_frame_ancestors_is_configurable(small_kb, frame):
    from fastapi.testclient import TestClient

    from web.app import create_app

    small_kb.settings.frame_ancestors = frame
    client = TestClient(create_app(kb=small_kb))
    csp = client.get("/venues/venue-hongling-huijie/screen").headers["content-security-policy"]
    assert f"frame-ancestors {frame}" in csp
