"""Sessions (signed cookies), CSRF tokens, security headers."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request

SESSION_COOKIE = "kb_session"
SESSION_SECONDS = 12 * 3600


def secret_key(configured: str, data_dir: Path) -> str:
    """The configured key, or one generated once and kept (mode 0600) in the data folder."""
    if configured:
        return configured
    path = data_dir / "secret.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


class Sessions:
    def __init__(self, key: str):
        self.serializer = URLSafeTimedSerializer(key, salt="kb-session")

    def load(self, request: Request) -> dict:
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return {}
        try:
            data = self.serializer.loads(raw, max_age=SESSION_SECONDS)
        except BadSignature:
            return {}
        return data if isinstance(data, dict) else {}

    def dump(self, data: dict) -> str:
        return self.serializer.dumps(data)


def set_session_cookie(response, value: str, secure: bool) -> None:
    response.set_cookie(SESSION_COOKIE, value, max_age=SESSION_SECONDS, httponly=True, samesite="lax",
                        secure=secure, path="/")


def security_headers(frame_ancestors: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": (
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            f"object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors {frame_ancestors}"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cross-Origin-Opener-Policy": "same-origin",
    }
