"""``/api/v1/auth``: dashboard sign-in with email and password, sign-out, and who is signed in."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from replaylink.api import session_cookie
from replaylink.api.deps import CallerDep, Db, RuntimeDep
from replaylink.api.errors import ApiError
from replaylink.api.login_limits import LoginLimits
from replaylink.runtime import Runtime
from replaylink.security import hash_password, verify_password
from replaylink.store import auth_sessions
from replaylink.store.models import User

router = APIRouter(prefix="/api/v1/auth", tags=["dashboard sign-in"])

_DUMMY_HASH = hash_password("not-a-real-password-only-evens-out-timing")


class LoginIn(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class UserOut(BaseModel):
    id: int
    email: str
    is_admin: bool


class Me(BaseModel):
    user: UserOut
    csrf_token: str = Field(description="Send back as X-CSRF-Token on every POST, PUT, PATCH and DELETE.")


def _limits(request: Request, rt: Runtime) -> LoginLimits:
    limits: LoginLimits | None = getattr(request.app.state, "login_limits", None)
    if limits is None:
        s = rt.settings
        limits = LoginLimits(s.login_failures_per_account, s.login_attempts_per_ip, s.login_window_seconds)
        request.app.state.login_limits = limits
    return limits


def _too_many(wait: float) -> ApiError:
    seconds = int(wait) + 1
    return ApiError(
        429,
        "too_many_attempts",
        f"Too many sign-in attempts; wait {seconds} s and try again.",
        [{"field": None, "message": "too many sign-in attempts", "retry_after": seconds}],
        headers={"Retry-After": str(seconds)},
    )


@router.post("/login", response_model=Me)
def login(body: LoginIn, request: Request, response: Response, db: Db, rt: RuntimeDep) -> Me:
    """Check the email and password; on success set the session cookie (HttpOnly) and the CSRF cookie."""
    limits = _limits(request, rt)
    email = body.email.strip().lower()
    address = request.client.host if request.client else "unknown"
    for window, key in ((limits.addresses, address), (limits.accounts, email)):
        wait = window.retry_after(key)
        if wait is not None:
            raise _too_many(wait)
    limits.addresses.hit(address)
    # FOR SHARE (PostgreSQL): a password change or a delete of this user waits for this sign-in,
    # and then ends it too; one that came first leaves nothing here to sign in with.
    user = db.scalar(select(User).where(func.lower(User.email) == email).with_for_update(read=True))
    if not verify_password(user.password_hash if user else _DUMMY_HASH, body.password) or user is None:
        limits.accounts.hit(email)
        raise ApiError(401, "bad_credentials", "The email or the password is wrong.")
    limits.accounts.clear(email)
    s = rt.settings
    auth_sessions.purge_expired(db)
    new = auth_sessions.start(
        db,
        user,
        idle=timedelta(seconds=s.dashboard_idle_seconds),
        absolute=timedelta(seconds=s.dashboard_max_seconds),
        user_agent=request.headers.get("user-agent", ""),
        ip=address,
    )
    session_cookie.set_cookies(response, request, s, new.token, s.dashboard_max_seconds)
    return Me(
        user=UserOut(id=user.id, email=user.email, is_admin=user.is_admin),
        csrf_token=session_cookie.csrf_token(s.keys.secret_key, new.token),
    )


@router.post("/logout", status_code=204)
def logout(request: Request, db: Db, rt: RuntimeDep, caller: CallerDep) -> Response:
    """End this sign-in (the CSRF header is required, as for every change)."""
    token = request.cookies.get(session_cookie.SESSION_COOKIE)
    if token and caller.user_id is not None:
        auth_sessions.end(db, token)
    response = Response(status_code=204)
    session_cookie.clear_cookies(response, request, rt.settings)
    return response


@router.get("/me", response_model=Me)
def me(request: Request, db: Db, rt: RuntimeDep, caller: CallerDep) -> Me:
    """The signed-in user and the CSRF token; 401 when not signed in (API keys have no user)."""
    token = request.cookies.get(session_cookie.SESSION_COOKIE)
    user = db.get(User, caller.user_id) if caller.user_id is not None else None
    if user is None or not token:
        raise ApiError(401, "unauthorized", "Not signed in: this endpoint is for the dashboard's cookie.")
    return Me(
        user=UserOut(id=user.id, email=user.email, is_admin=user.is_admin),
        csrf_token=session_cookie.csrf_token(rt.settings.keys.secret_key, token),
    )
