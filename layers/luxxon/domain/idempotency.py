"""Idempotency keys on every POST (Stripe's semantics).

The same `Idempotency-Key` from the same workspace with the same request replays the first response (for 24 h);
with another request it is refused (409 IDEMPOTENCY_CONFLICT). The key is claimed and completed inside the unit of
work of the effect, so both commit or neither does: a refusal that changed nothing (bad input, a lost race) stores
nothing, and a retry after fixing the cause goes through; a client retry of a create never creates twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel

from luxxon.domain.ports.idempotency import IdempotencyStore
from luxxon.domain.results import Written
from luxxon.errors import ErrorCode, LxError

M = TypeVar("M", bound=BaseModel)
KEEP_S = 24 * 3600


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    workspace_id: str
    key: str
    fingerprint: bytes

    @classmethod
    def of(cls, workspace_id: str, key: str, method: str, path: str, body: str) -> IdempotencyKey:
        digest = hashlib.sha256(f"{method} {path}\n{body}".encode()).digest()
        return cls(workspace_id, key, digest)


class Idempotency:
    def __init__(self, store: IdempotencyStore | None) -> None:
        self.store = store  # None: wired without keys (tools and tests that send none)

    def replay(self, key: IdempotencyKey | None, model: type[M]) -> Written[M] | None:
        """Inside the effect's unit of work, before the effect: the earlier response to replay, or None to go on."""
        if key is None:
            return None
        assert self.store is not None, "an idempotency key without an idempotency store"
        earlier = self.store.claim(key.workspace_id, key.key, key.fingerprint)
        if earlier is None:
            return None
        if earlier.fingerprint != key.fingerprint:
            raise LxError(ErrorCode.IDEMPOTENCY_CONFLICT, "idempotency:keyReused")
        return Written(model.model_validate(earlier.response), earlier.token, replayed=True)

    def refuse_replay(self, key: IdempotencyKey | None) -> None:
        """For a write whose response holds a secret the server does not keep (a new API key): the first request
        goes on; a retry cannot get the secret again and is refused (409 `idempotency:secretNotReplayable`)."""
        if key is None:
            return
        assert self.store is not None, "an idempotency key without an idempotency store"
        earlier = self.store.claim(key.workspace_id, key.key, key.fingerprint)
        if earlier is None:
            return
        if earlier.fingerprint != key.fingerprint:
            raise LxError(ErrorCode.IDEMPOTENCY_CONFLICT, "idempotency:keyReused")
        raise LxError(ErrorCode.IDEMPOTENCY_CONFLICT, "idempotency:secretNotReplayable")

    def remember(self, key: IdempotencyKey | None, written: Written[M]) -> Written[M]:
        """Inside the effect's unit of work, after the effect: keep its response for a retry."""
        if key is not None:
            assert self.store is not None, "an idempotency key without an idempotency store"
            self.store.complete(key.workspace_id, key.key, written.value.model_dump_json(), written.token)
        return written

    def prune(self) -> int:
        """Forget keys past their retention (the sweep)."""
        return self.store.prune() if self.store is not None else 0
