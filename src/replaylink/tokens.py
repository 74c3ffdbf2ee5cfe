"""Session tokens: mint and verify.

A token binds a session id, a project id and an expiry, signed with HMAC-SHA256::

    1.<session id>.<project id>.<expiry, epoch s>.<signature>

Numbers and the 128-bit truncated signature are base62, so a token uses only
``[0-9A-Za-z.]`` (it survives log pipelines, URLs and Sentry tag values) and stays
under 60 characters. Verification never raises: it returns a :class:`Verification`
with the data or a :class:`Reason`.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from replaylink.ids import b62decode, b62encode

VERSION = "1"
MAX_LENGTH = 99
_SIG_BYTES = 16
_SIG_CHARS = 22  # ceil(128 / log2(62))
_SHAPE = re.compile(r"1\.([0-9A-Za-z]{1,11})\.([0-9A-Za-z]{1,11})\.([0-9A-Za-z]{1,11})\.([0-9A-Za-z]{22})")
_DOMAIN = b"replaylink-session-token\x00"
CHECKED_TOKENS = 50_000
"""How many checked tokens a signer remembers (all forgotten at once when full: a flood of
forged tokens costs HMACs, never memory)."""


class Reason(enum.StrEnum):
    """Why a token did not verify."""

    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class TokenData:
    session_id: int
    project_id: int
    expires_at: int
    """Epoch seconds."""


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome of :meth:`TokenSigner.verify`. ``data`` is set when valid or merely expired."""

    data: TokenData | None
    reason: Reason | None = None

    @property
    def valid(self) -> bool:
        return self.reason is None

    @property
    def status(self) -> str:
        return "valid" if self.reason is None else self.reason.value


class TokenSigner:
    """Mints tokens under the current key; verifies under the current and previous keys."""

    def __init__(self, secret_key: bytes, previous_keys: Sequence[bytes] = ()) -> None:
        if not secret_key:
            raise ValueError("TokenSigner needs a non-empty secret key")
        self._keys = (secret_key, *[k for k in previous_keys if k])
        self._checked: dict[str, Verification] = {}
        """Tokens already checked (shape and signature) under these keys: the importer meets the
        same tokens on every page and every poll of a window, and the check (an HMAC and base62
        arithmetic) was most of verifying one."""

    def __repr__(self) -> str:
        return f"TokenSigner(keys={len(self._keys)})"

    def mint(self, session_id: int, project_id: int, expires_at: int) -> str:
        body = f"{VERSION}.{b62encode(session_id)}.{b62encode(project_id)}.{b62encode(expires_at)}"
        return f"{body}.{self._signature(self._keys[0], body)}"

    def verify(self, token: object, now: float | None = None) -> Verification:
        """Check shape, signature and expiry. Never raises, whatever ``token`` is."""
        if isinstance(token, bytes | bytearray):
            try:
                token = bytes(token).decode("ascii")
            except UnicodeDecodeError:
                return _MALFORMED
        if not isinstance(token, str) or len(token) > MAX_LENGTH:
            return _MALFORMED
        checked = self._checked.get(token)
        if checked is None:
            checked = self._check(token)
            if len(self._checked) >= CHECKED_TOKENS:
                self._checked.clear()
            self._checked[token] = checked
        if checked.data is None or checked.data.expires_at > (time.time() if now is None else now):
            return checked
        return Verification(checked.data, Reason.EXPIRED)

    def _check(self, token: str) -> Verification:
        """Shape and signature (not expiry) of a token of at most ``MAX_LENGTH`` characters."""
        match = _SHAPE.fullmatch(token)
        if match is None:
            return _MALFORMED
        sid, pid, exp, signature = match.groups()
        if any(len(part) > 1 and part[0] == "0" for part in (sid, pid, exp)):
            return _MALFORMED  # non-canonical numbers: one value, one spelling
        body = token[: -(_SIG_CHARS + 1)]
        if not any(hmac.compare_digest(self._signature(key, body), signature) for key in self._keys):
            return _BAD_SIGNATURE
        return Verification(TokenData(b62decode(sid), b62decode(pid), b62decode(exp)))

    @staticmethod
    def _signature(key: bytes, body: str) -> str:
        digest = hmac.new(key, _DOMAIN + body.encode("ascii"), hashlib.sha256).digest()[:_SIG_BYTES]
        return b62encode(int.from_bytes(digest, "big")).rjust(_SIG_CHARS, "0")


def peek(token: str) -> TokenData | None:
    """The claimed (unverified) data of a well-formed token; for diagnostics only."""
    match = _SHAPE.fullmatch(token) if isinstance(token, str) else None
    if match is None:
        return None
    sid, pid, exp, _ = match.groups()
    return TokenData(b62decode(sid), b62decode(pid), b62decode(exp))


_MALFORMED = Verification(None, Reason.MALFORMED)
_BAD_SIGNATURE = Verification(None, Reason.BAD_SIGNATURE)
