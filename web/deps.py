"""Typed dependencies: the shared KB, the current user, role checks, CSRF.

All are ``async def``: they only read request state, and FastAPI runs a plain ``def`` dependency
in the thread pool, a round trip through another thread for each one on every request."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Form, Request

from kb.auth import User
from kb.errors import AuthError, Forbidden, KBError
from kb.service import KB


async def get_kb(request: Request) -> KB:
    return request.app.state.kb


KBDep = Annotated[KB, Depends(get_kb)]


async def current_user(request: Request) -> User:
    return request.state.user


UserDep = Annotated[User, Depends(current_user)]


def require(role: str):
    async def check(request: Request) -> User:
        user: User = request.state.user
        if user.role == "anonymous":
            raise AuthError("请先登录")
        if not user.can(role):
            raise Forbidden("没有权限进行此操作")
        return user

    return check


CuratorDep = Annotated[User, Depends(require("curator"))]
AdminDep = Annotated[User, Depends(require("admin"))]


class CSRFError(KBError):
    status = 403


async def check_csrf(request: Request, csrf: Annotated[str, Form()] = "") -> None:
    """Every state-changing form carries the session's token."""
    expected = request.state.csrf
    if not csrf or not secrets.compare_digest(csrf, expected):
        raise CSRFError("页面已过期或来源不明（CSRF 校验失败），请刷新页面后重试")


CSRFDep = Depends(check_csrf)


async def viewer(request: Request) -> User:
    """Reading is open to anyone unless the deployment requires login (KB_REQUIRE_LOGIN)."""
    user: User = request.state.user
    if request.app.state.kb.settings.require_login and user.role == "anonymous":
        raise AuthError("请先登录")
    return user


ViewerDep = Annotated[User, Depends(viewer)]
