"""Idempotency keys, kept in the unit of work of the effect they guard."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """What an earlier request with the same key left: its fingerprint and its response (as JSON)."""

    fingerprint: bytes
    response: Any
    token: str | None


class IdempotencyStore(Protocol):
    def claim(self, workspace_id: str, key: str, fingerprint: bytes) -> IdempotencyRecord | None:
        """Claim the key inside the current unit of work; None when claimed now, else the earlier request's record
        (waiting for a concurrent first request with that key to commit)."""
        ...

    def complete(self, workspace_id: str, key: str, response: str, token: str | None) -> None: ...
    def prune(self) -> int: ...
