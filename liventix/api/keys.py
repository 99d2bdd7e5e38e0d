"""API keys: their format, creation and revocation (the CLI's), and authentication (the API's).

A key reads `lvx_<prefix>_<secret>`: twelve hex digits that find the row, then 48 hex digits
of secret. Only the secret's SHA-256 is stored (a fast hash is enough for 192 random bits) and
it is compared in constant time. A key belongs to one organization, or (org_id NULL) is the
platform's. Revoking stamps `revoked_at`; a revoked key authenticates no more.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import Connection, text

import ledger

KEY_PREFIX = "lvx_"
_KEY = re.compile(r"^lvx_([0-9a-f]{12})_([0-9a-f]{48})$")


class KeyNotFound(Exception):
    """No such API key."""

    def __init__(self, key_id: uuid.UUID) -> None:
        self.key_id = key_id
        super().__init__(f"no API key {key_id}")


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: an organization (its key), or the platform (org_id None)."""

    key_id: uuid.UUID
    org_id: uuid.UUID | None

    @property
    def is_platform(self) -> bool:
        """True for the platform's key."""
        return self.org_id is None

    @property
    def scope(self) -> str:
        """The idempotency scope: the organization's id, or 'platform'."""
        return "platform" if self.org_id is None else str(self.org_id)


@dataclass(frozen=True)
class CreatedKey:
    """A new key: its id, and the full token (shown once, never stored)."""

    id: uuid.UUID
    org_id: uuid.UUID | None
    token: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_token(token: str) -> tuple[str, str] | None:
    """(prefix, secret) of a well-formed token, else None."""
    match = _KEY.match(token)
    return (match.group(1), match.group(2)) if match else None


def create_key(conn: Connection, org_id: uuid.UUID | None, *, description: str = "") -> CreatedKey:
    """Create a key for an organization (which must exist) or, with None, for the platform."""
    if org_id is not None:
        exists = conn.execute(
            text("SELECT 1 FROM payments.organizations WHERE id = :id"), {"id": org_id}
        ).first()
        if exists is None:
            raise ledger.OrganizationNotFound(org_id=str(org_id))
    prefix = secrets.token_hex(6)
    secret = secrets.token_hex(24)
    key_id: uuid.UUID = conn.execute(
        text("""INSERT INTO payments.api_keys (org_id, prefix, secret_sha256, description)
                VALUES (:org, :prefix, :digest, :description) RETURNING id"""),
        {"org": org_id, "prefix": prefix, "digest": _digest(secret), "description": description},
    ).scalar_one()
    return CreatedKey(key_id, org_id, f"{KEY_PREFIX}{prefix}_{secret}")


def revoke_key(conn: Connection, key_id: uuid.UUID) -> bool:
    """Revoke a key; False if it was already revoked. Raises KeyNotFound."""
    done = conn.execute(
        text("""UPDATE payments.api_keys SET revoked_at = now()
                 WHERE id = :id AND revoked_at IS NULL RETURNING id"""),
        {"id": key_id},
    ).first()
    if done is not None:
        return True
    exists = conn.execute(
        text("SELECT 1 FROM payments.api_keys WHERE id = :id"), {"id": key_id}
    ).first()
    if exists is None:
        raise KeyNotFound(key_id)
    return False


@dataclass(frozen=True)
class StoredAnswer:
    """The answer stored under an Idempotency-Key, and the request it answered."""

    method: str
    path: str
    request_sha256: str
    status: int
    content_type: str
    response: str


# One round trip opens a request: find the key, assume its role and organization for the
# rest of the transaction (set_config(..., true) is SET LOCAL), and fetch what is stored under
# the request's Idempotency-Key in the key's scope. Tables are checked and planned as the
# login role when the statement starts, so the lookup is not affected by the role it assumes.
# A wrong secret or a revoked key is refused right after, by closing the transaction.
_OPEN = text("""
    SELECT k.id, k.org_id, k.secret_sha256, k.revoked_at,
           set_config('role', CASE WHEN k.org_id IS NULL THEN 'liventix_platform'
                                   ELSE 'liventix_app' END, true) AS role,
           set_config('liventix.org_id', coalesce(k.org_id::text, ''), true) AS acting_for,
           i.method, i.path, i.request_sha256, i.status, i.content_type,
           i.response::text AS response
      FROM payments.api_keys k
      LEFT JOIN payments.api_idempotency i
             ON i.scope = coalesce(k.org_id::text, 'platform') AND i.key = :key
     WHERE k.prefix = :prefix
""")


def authenticate(
    conn: Connection, token: str, idempotency_key: str | None = None
) -> tuple[Principal | None, StoredAnswer | None]:
    """Authenticate `token` and act as its principal for the rest of the transaction:
    `liventix_app` with `liventix.org_id` set (as `ledger.act_for`) for an organization's key,
    `liventix_platform` acting for no organization for the platform's. Returns the principal
    (None: refuse with 401 and roll back) and the answer stored under `idempotency_key`."""
    parsed = parse_token(token)
    if parsed is None:
        return None, None
    prefix, secret = parsed
    row = conn.execute(_OPEN, {"prefix": prefix, "key": idempotency_key}).first()
    if row is None or row.revoked_at is not None:
        return None, None
    if not hmac.compare_digest(row.secret_sha256, _digest(secret)):
        return None, None
    stored = None
    if row.method is not None:
        stored = StoredAnswer(
            method=row.method,
            path=row.path,
            request_sha256=row.request_sha256,
            status=row.status,
            content_type=row.content_type,
            response=row.response,
        )
    return Principal(key_id=row.id, org_id=row.org_id), stored
