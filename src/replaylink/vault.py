"""The credential vault: provider secrets encrypted at rest with AES-256-GCM.

A ciphertext reads ``rlv1.<key id>.<base64url(nonce | ciphertext+tag)>``; the key id names
the key that encrypted it, so old ciphertexts still open after ``replaylink keys rotate``
installs a new key, as long as the old key is listed in ``REPLAYLINK_PREVIOUS_ENCRYPTION_KEYS``
(or the data dir's ``previous_encryption_keys`` file).
The associated data binds a ciphertext to its integration: a row's secrets cannot be
pasted onto another row.

A running process picks up a rotation live: a vault built with a ``reload`` callable asks it
for the keys again when a ciphertext names a key it does not have (and before it encrypts), and
``reload`` reads the key files only when they changed. A successful decryption never touches
the disk.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

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


KeyReload = Callable[[], tuple[bytes, Sequence[bytes]] | None]
"""Returns the (current, previous) encryption keys when their source changed since the last
call, else None (nothing changed, or the keys come from the environment)."""

UNKNOWN_KEY_ADVICE = (
    "restore that key to REPLAYLINK_PREVIOUS_ENCRYPTION_KEYS (or to the data dir's "
    "previous_encryption_keys file, one key a line), or enter the credentials again in "
    "Preferences > Integrations"
)


@dataclass(frozen=True, slots=True)
class _Keyring:
    current_id: str
    keys: dict[str, AESGCM]


def _keyring(current: bytes, previous: Sequence[bytes]) -> _Keyring:
    if not current:
        raise VaultError("No encryption key is configured; set REPLAYLINK_ENCRYPTION_KEY.")
    return _Keyring(key_id(current), {key_id(k): AESGCM(_derive(k)) for k in (*previous, current) if k})


class Vault:
    """Encrypts with the current key; decrypts with any configured key.

    With ``reload``, a ciphertext under a key this vault does not have makes it reload its keys
    (once, thread-safe: one thread reloads, the others use what it loaded) and try again; so does
    each encryption, so that new ciphertexts use the newest key. The keyring is swapped whole, so
    readers never lock.
    """

    def __init__(
        self, current: bytes, previous: Sequence[bytes] = (), *, reload: KeyReload | None = None
    ) -> None:
        self._ring = _keyring(current, previous)
        self._reload = reload
        self._lock = threading.Lock()

    @property
    def current_id(self) -> str:
        return self._ring.current_id

    def __repr__(self) -> str:
        return f"Vault(current={self.current_id}, keys={len(self._ring.keys)})"

    def refresh(self, seen: _Keyring | None = None) -> bool:
        """Reload the keys if their source changed; True when the keyring changed (since ``seen``)."""
        if self._reload is None:
            return False
        seen = seen or self._ring
        with self._lock:
            if self._ring is not seen:  # another thread reloaded meanwhile
                return True
            loaded = self._reload()
            if loaded is None:
                return False
            ring = _keyring(*loaded)
            if ring.current_id == seen.current_id and ring.keys.keys() == seen.keys.keys():
                return False
            self._ring = ring
            return True

    def encrypt(self, secrets: dict[str, str], context: str) -> str:
        self.refresh()  # a rotation on disk: encrypt under the new key at once (a stat, rare)
        ring = self._ring
        nonce = os.urandom(_NONCE)
        plain = json.dumps(secrets, separators=(",", ":")).encode()
        sealed = ring.keys[ring.current_id].encrypt(nonce, plain, context.encode())
        return f"{_PREFIX}.{ring.current_id}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, ciphertext: str, context: str) -> dict[str, str]:
        kid = self.key_id_of(ciphertext)
        ring = self._ring
        aead = ring.keys.get(kid)
        if aead is None and self.refresh(ring):
            aead = self._ring.keys.get(kid)
        if aead is None:
            raise VaultError(
                f"Stored credentials for {context} were encrypted with key {kid}, which is not configured "
                f"(neither the current nor a previous encryption key): {UNKNOWN_KEY_ADVICE}. "
                "REPLAYLINK_ENCRYPTION_KEY may be set to that key instead."
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
        ring = self._ring
        return kid in ring.keys or (self.refresh(ring) and kid in self._ring.keys)

    def reencrypt(self, ciphertext: str, context: str) -> str:
        """The same secrets under the current key (no-op when already current)."""
        if self.key_id_of(ciphertext) == self.current_id:
            return ciphertext
        return self.encrypt(self.decrypt(ciphertext, context), context)
