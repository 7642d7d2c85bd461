"""Accounts and roles: argon2 password hashes in the user database, login rate limiting."""

from __future__ import annotations

import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from kb.errors import AuthError, Conflict, KBError, NotFound, RateLimited
from kb.store import Store, now

ROLES = {"curator": "资料员", "admin": "管理员"}
RANK = {"anonymous": 0, "curator": 1, "admin": 2}
MAX_FAILURES = 5
WINDOW_SECONDS = 300
_hasher = PasswordHasher()  # argon2id, memory-hard


@dataclass(frozen=True)
class User:
    name: str
    role: str

    def can(self, role: str) -> bool:
        return RANK[self.role] >= RANK[role]


ANONYMOUS = User("", "anonymous")


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not 2 <= len(name) <= 40 or any(c.isspace() or ord(c) < 32 for c in name):
        raise KBError("用户名应为 2–40 个字符，不含空格")
    return name


def _check_password(password: str) -> None:
    if len(password or "") < 8:
        raise KBError("密码至少 8 个字符")


def add_user(store: Store, name: str, password: str, role: str) -> User:
    name = _check_name(name)
    if role not in ROLES:
        raise KBError(f"未知角色“{role}”（可选：{', '.join(ROLES)}）")
    _check_password(password)
    with store.tx() as db:
        if db.execute("SELECT 1 FROM users WHERE name = ?", [name]).fetchone():
            raise Conflict(f"用户“{name}”已存在")
        db.execute("INSERT INTO users (name, password_hash, role, created) VALUES (?,?,?,?)",
                   (name, _hasher.hash(password), role, now()))
    return User(name, role)


def set_password(store: Store, name: str, password: str) -> None:
    _check_password(password)
    with store.tx() as db:
        if db.execute("UPDATE users SET password_hash = ? WHERE name = ?", (_hasher.hash(password), name)).rowcount == 0:
            raise NotFound(f"没有用户“{name}”")


def set_role(store: Store, name: str, role: str | None = None, disabled: bool | None = None) -> None:
    if role is not None and role not in ROLES:
        raise KBError(f"未知角色“{role}”（可选：{', '.join(ROLES)}）")
    with store.tx() as db:
        row = db.execute("SELECT role, disabled FROM users WHERE name = ?", [name]).fetchone()
        if row is None:
            raise NotFound(f"没有用户“{name}”")
        db.execute("UPDATE users SET role = ?, disabled = ? WHERE name = ?",
                   (role or row["role"], int(row["disabled"] if disabled is None else disabled), name))


def list_users(store: Store) -> list[dict]:
    return [dict(r) for r in store.db.execute("SELECT name, role, created, disabled FROM users ORDER BY name")]


def get_user(store: Store, name: str) -> User | None:
    row = store.db.execute("SELECT name, role, disabled FROM users WHERE name = ?", [name]).fetchone()
    if row is None or row["disabled"]:
        return None
    return User(row["name"], row["role"])


def authenticate(store: Store, name: str, password: str, client: str = "") -> User:
    """Check a password; after MAX_FAILURES failures in WINDOW_SECONDS for a name or client, refuse."""
    keys = [f"name:{(name or '').strip().lower()}", f"client:{client}"]
    cutoff = time.time() - WINDOW_SECONDS
    with store.tx() as db:
        db.execute("DELETE FROM login_attempts WHERE at < ?", [cutoff])
        for key in keys:
            count = db.execute("SELECT count(*) FROM login_attempts WHERE key = ?", [key]).fetchone()[0]
            if count >= MAX_FAILURES:
                raise RateLimited("登录失败次数过多，请 5 分钟后再试")
    row = store.db.execute("SELECT name, role, password_hash, disabled FROM users WHERE name = ?",
                           [(name or "").strip()]).fetchone()
    try:
        if row is None or row["disabled"]:
            _hasher.verify(_DUMMY, password or "x")  # same cost whether or not the user exists
            raise VerificationError
        _hasher.verify(row["password_hash"], password or "")
    except (VerificationError, InvalidHashError):
        with store.tx() as db:
            db.executemany("INSERT INTO login_attempts (key, at) VALUES (?, ?)", [(k, time.time()) for k in keys])
        raise AuthError("用户名或密码不正确") from None
    return User(row["name"], row["role"])


_DUMMY = _hasher.hash("not-a-real-password")
