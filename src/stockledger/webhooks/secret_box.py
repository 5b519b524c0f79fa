"""Webhook signing secrets: made here, shown once, stored sealed.

A database dump alone does not give the secrets away: each is sealed with AES-256-GCM
(`cryptography`) under a key that lives only in the environment, bound to its webhook id (the
associated data), so a sealed secret copied onto another webhook's row does not open either.
The AES key is derived with HKDF-SHA256 from STOCKLEDGER_WEBHOOKS_SECRET_KEY, or from
STOCKLEDGER_AUDIT_KEY (with another HKDF `info`, so the audit key's HMAC is never the cipher
key). STOCKLEDGER_WEBHOOKS_SECRET_KEY may list several keys, comma-separated: the first seals,
every one opens, so a key is rotated by putting the new one first.
"""

from __future__ import annotations

import base64
import os
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..config import Settings

FORMAT = b"\x01"  # the layout of a sealed secret: FORMAT || 12-byte nonce || ciphertext+tag
_INFO = b"stockledger webhook secrets v1"


class SecretUnreadable(Exception):
    """No configured key opens a stored secret (the key changed, or the row was altered)."""


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def _cipher(material: str) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        material.encode()
    )
    return AESGCM(key)


class SecretBox:
    """Seals and opens webhook secrets with the keys of the environment."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("a SecretBox needs at least one key")
        self._ciphers = [_cipher(k) for k in keys]

    def seal(self, secret: str, webhook_id: UUID) -> bytes:
        nonce = os.urandom(12)
        return FORMAT + nonce + self._ciphers[0].encrypt(nonce, secret.encode(), webhook_id.bytes)

    def open(self, sealed: bytes, webhook_id: UUID) -> str:
        if sealed[:1] != FORMAT:
            raise SecretUnreadable(f"webhook {webhook_id}: unknown secret format")
        nonce, body = sealed[1:13], sealed[13:]
        for cipher in self._ciphers:
            try:
                return cipher.decrypt(nonce, body, webhook_id.bytes).decode()
            except InvalidTag:
                continue
        raise SecretUnreadable(f"webhook {webhook_id}: no configured key opens its secret")


def secret_box(settings: Settings) -> SecretBox | None:
    """The box of these settings, or None when neither key is set (then no webhooks); an
    empty setting is not set."""
    listed = settings.webhooks_secret_key
    keys = [k.strip() for k in listed.get_secret_value().split(",")] if listed else []
    if any(keys):
        return SecretBox([k for k in keys if k])
    if settings.audit_key is not None and settings.audit_key.get_secret_value():
        return SecretBox([settings.audit_key.get_secret_value()])
    return None
