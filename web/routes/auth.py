"""Login and logout for curators and admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from kb.auth import authenticate
from kb.errors import AuthError, RateLimited
from web.deps import CSRFDep, KBDep
from web.rendering import page

router = APIRouter(tags=["auth"], include_in_schema=False)


def _safe_next(target: str) -> str:
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/curator"


@router.get("/login")
def login_form(request: Request, next: str = "/curator"):
    """登录页。"""
    return page(request, "login.html", {"next": _safe_next(next), "error": ""})


@router.post("/login", dependencies=[CSRFDep])
def login(request: Request, kb: KBDep, name: Annotated[str, Form(max_length=80)] = "",
          password: Annotated[str, Form(max_length=200)] = "", next: Annotated[str, Form()] = "/curator"):
    """登录（失败次数过多会被暂时锁定）。"""
    client = request.client.host if request.client else ""
    try:
        user = authenticate(kb.store, name, password, client)
    except (AuthError, RateLimited) as exc:
        return page(request, "login.html", {"next": _safe_next(next), "error": exc.message},
                    status_code=exc.status)
    import secrets

    # A new session (and CSRF token) at login: a token seen before login is worth nothing after.
    request.state.session = {"u": user.name, "c": secrets.token_urlsafe(24)}
    kb.store.audit(user.name, "login", user.name)
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout", dependencies=[CSRFDep])
def logout(request: Request, kb: KBDep):
    """退出登录。"""
    import secrets

    if request.state.user.name:
        kb.store.audit(request.state.user.name, "logout", request.state.user.name)
    request.state.session = {"c": secrets.token_urlsafe(24)}
    return RedirectResponse("/", status_code=303)
