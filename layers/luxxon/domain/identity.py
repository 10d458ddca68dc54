"""API keys and the authenticated principal."""

from __future__ import annotations

import hashlib
import re
import secrets

from luxxon.domain.ports.workspaces import NewKey, Principal
from luxxon.domain.ratelimit import Budgets, MeteredKeyStore, admit
from luxxon.errors import ErrorCode, LxError, not_authenticated

SUPPLIER = "SUPPLIER"  # the role that may operate sessions
KEY_PREFIX = "lxxn_"
_KEY_RE = re.compile(r"^lxxn_[A-Za-z0-9_-]{43}$")
DISPLAY_PREFIX_LEN = 12


def is_supplier(principal: Principal) -> bool:
    return SUPPLIER in principal.roles


def new_api_key() -> NewKey:
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return NewKey(key=key, prefix=key[:DISPLAY_PREFIX_LEN], key_hash=hash_key(key))


def hash_key(key: str) -> bytes:
    # Keys carry 256 bits of randomness, so a fast hash is the right tool (no password stretching needed).
    return hashlib.sha256(key.encode()).digest()


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise not_authenticated("auth:missingBearer")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise not_authenticated("auth:malformedBearer")
    return token.strip()


def authenticate(authorization: str | None, store: MeteredKeyStore, budgets: Budgets) -> Principal:
    """Resolve the bearer API key to its principal and spend its rate-limit budgets, in one store call.

    Revoked keys fail on the very next request. Over budget is THROTTLED (after authentication: an unknown caller
    has no budget to spend, the stage's throttle covers it).
    """
    token = bearer_token(authorization)
    if not _KEY_RE.fullmatch(token):
        raise not_authenticated("auth:malformedKey")
    metered = store.metered_principal(hash_key(token), budgets)
    if metered is None:
        raise not_authenticated("auth:unknownOrRevokedKey")
    return admit(metered)


def authorize(principal: Principal, any_of_scopes: tuple[str, ...]) -> None:
    if any_of_scopes and principal.scopes.isdisjoint(any_of_scopes):
        raise LxError(ErrorCode.NOT_AUTHORIZED, "scope:" + "|".join(any_of_scopes))
