"""Admins: manage curator and admin accounts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from kb.auth import ROLES, add_user, list_users, set_password, set_role
from kb.errors import KBError
from web.deps import AdminDep, CSRFDep, KBDep
from web.rendering import page, twin

router = APIRouter(prefix="/admin", tags=["admin"], include_in_schema=False)


@twin(router, "/users")
def users(request: Request, kb: KBDep, admin: AdminDep):
    """账号管理。"""
    return page(request, "admin_users.html", {"users": list_users(kb.store), "roles": ROLES, "error": ""})


@router.post("/users", dependencies=[CSRFDep])
def create_user(request: Request, kb: KBDep, admin: AdminDep, name: Annotated[str, Form(max_length=80)],
                password: Annotated[str, Form(max_length=200)], role: Annotated[str, Form()] = "curator"):
    """新增账号。"""
    try:
        add_user(kb.store, name, password, role)
    except KBError as exc:
        return page(request, "admin_users.html", {"users": list_users(kb.store), "roles": ROLES,
                                                   "error": exc.message}, status_code=exc.status)
    kb.store.audit(admin.name, "add_user", name, role)
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/users/{name}", dependencies=[CSRFDep])
def change_user(request: Request, name: str, kb: KBDep, admin: AdminDep, role: Annotated[str, Form()] = "",
                disabled: Annotated[str, Form()] = "", password: Annotated[str, Form(max_length=200)] = ""):
    """修改角色、停用/启用、重设密码。"""
    if name == admin.name and (disabled == "1" or (role and role != "admin")):
        raise KBError("不能停用或降级自己的管理员账号")
    if password:
        set_password(kb.store, name, password)
    set_role(kb.store, name, role or None, None if disabled == "" else disabled == "1")
    kb.store.audit(admin.name, "change_user", name, f"role={role} disabled={disabled} password={'yes' if password else 'no'}")
    return RedirectResponse("/admin/users", status_code=303)
