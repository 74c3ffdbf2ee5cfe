"""Password hashing (argon2) and API keys (random, stored as SHA-256)."""

from __future__ import annotations

import hashlib

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from replaylink.ids import random_key

API_KEY_PREFIX = "rlk_"
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_api_key() -> str:
    """A new API key (shown once, never stored)."""
    return API_KEY_PREFIX + random_key(24)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()
