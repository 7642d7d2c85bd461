"""The app factory: shared objects on app.state, one error handler, security headers on every response."""

from __future__ import annotations

import logging
import secrets

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kb.auth import ANONYMOUS, get_user
from kb.errors import KBError
from kb.service import KB
from kb.settings import Settings
from web.indexing import IndexJob
from web.rendering import HERE, make_templates, page, wants_json
from web.security import Sessions, secret_key, security_headers, set_session_cookie

log = logging.getLogger("kb.web")

HTTP_MESSAGES = {404: "页面不存在", 405: "不支持这种请求方式", 413: "上传内容过大", 422: "提交的内容有误"}


class SessionAndHeaders:
    """Loads the session and user into ``request.state``; on the way out sets the session cookie
    when it changed, the security headers, and no-store on private pages. A plain ASGI middleware:
    Starlette's BaseHTTPMiddleware re-streams every response through a task and a memory channel."""

    def __init__(self, app: ASGIApp, *, kb: KB, sessions: Sessions, headers: dict[str, str]):
        self.app, self.kb, self.sessions, self.headers = app, kb, sessions, headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        session = self.sessions.load(request)
        fresh = not session.get("c")
        if fresh:
            session = {"c": secrets.token_urlsafe(24)}
        user = ANONYMOUS
        if session.get("u"):
            user = get_user(self.kb.store, session["u"]) or ANONYMOUS
        request.state.session, request.state.user, request.state.csrf = session, user, session["c"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if fresh or request.state.session is not session or getattr(request.state, "session_changed", False):
                    cookie = Response()
                    set_session_cookie(cookie, self.sessions.dump(request.state.session),
                                       secure=request.url.scheme == "https")
                    headers.append("set-cookie", cookie.headers["set-cookie"])
                for key, value in self.headers.items():
                    headers.setdefault(key, value)
                if request.url.path.startswith(("/curator", "/admin", "/login")):
                    headers["Cache-Control"] = "no-store"
            await send(message)

        with self.kb.activity:
            await self.app(scope, receive, send_with_headers)


def create_app(settings: Settings | None = None, *, kb: KB | None = None) -> FastAPI:
    """Build the app; nothing is loaded at import time."""
    kb = kb or KB(settings)
    settings = kb.settings
    app = FastAPI(title="红领资源库 API", version="0.1.0",
                  description="点单选题、资料库按需供给、到阵地灵活使用。", docs_url="/api/docs",
                  redoc_url=None, openapi_url="/api/openapi.json")
    app.state.kb = kb
    app.state.templates = make_templates()
    app.state.sessions = Sessions(secret_key(settings.secret_key, settings.data_dir))
    app.state.index_job = IndexJob(kb)

    app.add_middleware(SessionAndHeaders, kb=kb, sessions=app.state.sessions,
                       headers=security_headers(settings.frame_ancestors))

    def error(request: Request, status: int, message: str, detail=None):
        if wants_json(request):
            return JSONResponse({"error": message, "detail": detail}, status_code=status)
        if status == 401 and request.method == "GET":
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        return page(request, "error.html", {"status": status, "message": message, "detail": detail},
                    status_code=status)

    @app.exception_handler(KBError)
    async def kb_error(request: Request, exc: KBError):
        detail = exc.detail if isinstance(exc.detail, dict) else (
            [str(d) for d in exc.detail] if isinstance(exc.detail, list) else None)
        return error(request, exc.status, exc.message, detail)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        problems = [f"{'.'.join(str(p) for p in e.get('loc', []))}: {e.get('msg')}" for e in exc.errors()]
        return error(request, 422, "提交的内容有误", problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return error(request, exc.status_code, HTTP_MESSAGES.get(exc.status_code, str(exc.detail)))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s", request.url.path)
        return error(request, 500, "服务器内部错误，已记录，请稍后再试")

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon():
        return FileResponse(HERE / "static" / "favicon.svg", media_type="image/svg+xml")

    from web.routes import admin, api, auth, curator, docs, kiosk, kits, search

    for module in (search, docs, kits, kiosk, auth, curator, admin, api):
        app.include_router(module.router)
    return app
