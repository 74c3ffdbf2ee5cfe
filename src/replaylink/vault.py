"""The credential vault: provider secrets encrypted at rest with AES-256-GCM.

A ciphertext reads ``rlv1.<key id>.<base64url(nonce | ciphertext+tag)>``; the key id names
the key that encrypted it, so old ciphertexts still open after ``replaylink keys rotate``
installs a new key, as long as the old key is listed in ``REPLAYLINK_PREVIOUS_ENCRYPTION_KEYS``.
The associated data binds a ciphertext to its integration: a row's secrets cannot be
pasted onto another row.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_PREFIX = "rlv1"
_NONCE = 12


class VaultError(Exception):
    """A ciphertext cannot be opened; the message says which key is needed. Never holds secrets."""


def _derive(material: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"replaylink vault v1").derive(material)


def key_id(material: bytes) -> str:
    """A short public fingerprint of an encryption key."""
    return hashlib.sha256(b"replaylink key id\x00" + _derive(material)).hexdigest()[:12]


class Vault:
    """Encrypts with the current key; decrypts with any configured key."""

    def __init__(self, current: bytes, previous: Sequence[bytes] = ()) -> None:
        if not current:
            raise VaultError("No encryption key is configured; set REPLAYLINK_ENCRYPTION_KEY.")
        self.current_id = key_id(current)
        self._keys = {key_id(k): AESGCM(_derive(k)) for k in (*previous, current) if k}

    def __repr__(self) -> str:
        return f"Vault(current={self.current_id}, keys={len(self._keys)})"

    def encrypt(self, secrets: dict[str, str], context: str) -> str:
        nonce = os.urandom(_NONCE)
        plain = json.dumps(secrets, separators=(",", ":")).encode()
        sealed = self._keys[self.current_id].encrypt(nonce, plain, context.encode())
        return f"{_PREFIX}.{self.current_id}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, ciphertext: str, context: str) -> dict[str, str]:
        kid = self.key_id_of(ciphertext)
        aead = self._keys.get(kid)
        if aead is None:
            raise VaultError(
                f"Stored credentials were encrypted with key {kid}, which is not configured; set "
                "REPLAYLINK_ENCRYPTION_KEY (or REPLAYLINK_PREVIOUS_ENCRYPTION_KEYS) to that key."
            )
        try:
            raw = base64.urlsafe_b64decode(ciphertext.split(".", 2)[2])
            plain = aead.decrypt(raw[:_NONCE], raw[_NONCE:], context.encode())
            value = json.loads(plain)
        except (InvalidTag, ValueError, IndexError):
            raise VaultError(
                f"Stored credentials for {context} do not decrypt with key {kid}; "
                "the key or the data is wrong."
            ) from None
        if not isinstance(value, dict):
            raise VaultError(f"Stored credentials for {context} are not a mapping.")
        return {str(k): str(v) for k, v in value.items()}

    @staticmethod
    def key_id_of(ciphertext: str) -> str:
        parts = ciphertext.split(".", 2)
        if len(parts) != 3 or parts[0] != _PREFIX:
            raise VaultError("A stored credential is not a ReplayLink vault ciphertext.")
        return parts[1]

    def knows(self, kid: str) -> bool:
        return kid in self._keys

    def reencrypt(self, ciphertext: str, context: str) -> str:
        """The same secrets under the current key (no-op when already current)."""
        if self.key_id_of(ciphertext) == self.current_id:
            return ciphertext
        return self.encrypt(self.decrypt(ciphertext, context), context)
