"""The dashboard's sign-in cookie and its CSRF token (double-submit, bound to the session).

The session cookie is HttpOnly, SameSite=Lax and Secure over https. The CSRF token is an HMAC of
the session token under the server's secret key: the dashboard reads it from a second,
script-readable cookie (or from ``/api/v1/auth/me``) and sends it back as ``X-CSRF-Token`` on
every state-changing request. A cross-site page can neither read it nor compute it.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request, Response

from replaylink.config import Settings

SESSION_COOKIE = "replaylink_session"
CSRF_COOKIE = "replaylink_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token(secret: bytes, session_token: str) -> str:
    return hmac.new(secret, b"csrf:" + session_token.encode(), hashlib.sha256).hexdigest()


def csrf_ok(secret: bytes, session_token: str, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(csrf_token(secret, session_token), (sent or "")[:128])


def is_secure(request: Request, settings: Settings) -> bool:
    if settings.cookie_secure == "always":
        return True
    if settings.cookie_secure == "never":
        return False
    return request.url.scheme == "https"


def set_cookies(response: Response, request: Request, settings: Settings, token: str, max_age: int) -> None:
    secure = is_secure(request, settings)
    response.set_cookie(
        SESSION_COOKIE, token, max_age=max_age, httponly=True, samesite="lax", secure=secure, path="/"
    )
    response.set_cookie(
        CSRF_COOKIE,
        csrf_token(settings.keys.secret_key, token),
        max_age=max_age,
        httponly=False,
        samesite="strict",
        secure=secure,
        path="/",
    )


def clear_cookies(response: Response, request: Request, settings: Settings) -> None:
    secure = is_secure(request, settings)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=secure)
    response.delete_cookie(CSRF_COOKIE, path="/", samesite="strict", secure=secure)
