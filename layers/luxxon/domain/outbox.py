"""The outbox: side effects that cannot join a transaction (live-input teardown, queue sends).

A state change writes its outbox rows in the same transaction; after commit the use case delivers them at once,
and whatever fails (or was cut short by a crash) is retried by the sweep with backoff until it succeeds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from luxxon.domain.ports.outbox import Entry, OutboxStore
from luxxon.observability import logger

MAX_BACKOFF_S = 300


class OutboxService:
    def __init__(self, store: OutboxStore, handlers: Mapping[str, Callable[[dict[str, Any]], None]]) -> None:
        self.store = store
        self.handlers = handlers

    def flush(self, session_ids: list[str]) -> int:
        """Deliver now what these sessions' transitions just wrote. Returns how many were delivered."""
        return self._deliver(self.store.claim_for_sessions(session_ids)) if session_ids else 0

    def drain(self, limit: int = 100, deadline: float | None = None) -> int:
        """Deliver due entries (the sweep) until `deadline` (time.monotonic()); what is left waits for its claim to
        lapse and the next sweep. Returns how many were delivered."""
        return self._deliver(self.store.claim_due(limit), deadline)

    def _deliver(self, entries: list[Entry], deadline: float | None = None) -> int:
        delivered = 0
        for entry in entries:
            if deadline is not None and time.monotonic() >= deadline:
                break
            try:
                self.handlers[entry.kind](entry.payload)
            except Exception as error:  # noqa: BLE001 - any failure is retried later; nothing is lost
                backoff = min(MAX_BACKOFF_S, 2 ** min(entry.attempts, 9))
                logger.warning("outbox delivery failed", extra={"entry": entry.id, "kind": entry.kind})
                self.store.mark_failed(entry, f"{type(error).__name__}: {error}"[:500], backoff)
                continue
            if self.store.mark_delivered(entry):
                delivered += 1
            else:  # our claim lapsed while delivering and another deliverer holds it now; it records the outcome
                logger.warning("outbox claim lost during delivery", extra={"entry": entry.id, "kind": entry.kind})
        return delivered

    def prune(self, older_than_s: int) -> int:
        """Forget delivered entries older than that (they are needed by nothing)."""
        return self.store.prune_delivered(older_than_s)
