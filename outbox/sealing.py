"""Webhook signing secrets at rest: sealed with AES-256-GCM under the application's key, so
reading `messaging.endpoint_secrets` gives none of them away.

A sealed secret reads `lxs1:<base64url(nonce || ciphertext || tag)>`. The key is the process's:
the application configures it from its settings (`LIVENTIX_SECRET_KEY`, see
`liventix.settings`) with `use_key` before anything seals or signs. Unconfigured, a fixed
development key is used, which protects nothing: it keeps tests and a local demo working and
is logged once.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger(__name__)

SEALED_PREFIX = "lxs1:"
_AAD = b"liventix webhook signing secret"
_DEVELOPMENT_KEY = "liventix development key: not a secret"


class SecretNotReadable(Exception):
    """A sealed secret could not be opened: another key sealed it, or it was altered."""


def _derive(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


_state: dict[str, bytes | bool] = {"key": _derive(_DEVELOPMENT_KEY), "configured": False}


def use_key(key: str | None) -> None:
    """Seal and open with `key` (any long random string) from now on; None: the development
    key."""
    _state["key"] = _derive(key or _DEVELOPMENT_KEY)
    _state["configured"] = bool(key)


def _key() -> bytes:
    if not _state["configured"] and not _state.get("warned"):
        _state["warned"] = True
        log.warning(
            "LIVENTIX_SECRET_KEY is unset: webhook secrets are sealed with a development key"
        )
    key = _state["key"]
    assert isinstance(key, bytes)
    return key


def is_sealed(value: str) -> bool:
    """Whether `value` is a sealed secret."""
    return value.startswith(SEALED_PREFIX)


def seal(secret: str) -> str:
    """The secret sealed for storage."""
    nonce = os.urandom(12)
    sealed = AESGCM(_key()).encrypt(nonce, secret.encode(), _AAD)
    return SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(value: str) -> str:
    """The secret a sealed value holds. Raises SecretNotReadable."""
    if not is_sealed(value):
        raise SecretNotReadable("not a sealed secret")
    try:
        raw = base64.urlsafe_b64decode(value[len(SEALED_PREFIX) :])
        return AESGCM(_key()).decrypt(raw[:12], raw[12:], _AAD).decode()
    except (InvalidTag, ValueError) as exc:
        raise SecretNotReadable(str(exc) or "the key does not open it") from exc
