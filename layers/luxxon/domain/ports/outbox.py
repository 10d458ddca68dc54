"""The outbox: effects written with a transaction and delivered after its commit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

LIVE_INPUT_DELETE = "live_input.delete"  # payload: {"uid": <live input>, "sessionId": <session>}
SETTLEMENT_REQUEST = "settlement.request"  # payload: {"sessionId": <session>}; the message the relayer takes


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int


class OutboxStore(Protocol):
    """Entries are claimed for a while (a lease); only the holder of the current claim (`entry.attempts` is its
    fencing token) can mark an entry delivered or failed."""

    def claim_for_sessions(self, session_ids: list[str]) -> list[Entry]: ...
    def claim_due(self, limit: int) -> list[Entry]: ...
    def mark_delivered(self, entry: Entry) -> bool: ...
    def mark_failed(self, entry: Entry, error: str, retry_in_s: int) -> bool: ...
    def prune_delivered(self, older_than_s: int) -> int: ...
