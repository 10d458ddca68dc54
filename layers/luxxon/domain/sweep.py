"""The sweep: what runs every minute (EventBridge → `functions/sweep/handler.py`), within a time budget.

1. expiry: pre-LIVE sessions past their wait deadline, LIVE sessions past their maximum duration (the meter runs);
2. settlement: requests that stalled (PENDING or SUBMITTED past `settlement_stall_after_s`) are queued again, and
   CONFIRMED settlements are reconciled against the indexed `Settled` events (a difference is flagged and alarmed);
3. the outbox: redeliver what failed (live-input teardowns, settlement requests), until the budget runs out;
4. orphaned live inputs (a /start that crashed between creating one and committing) are deleted;
5. housekeeping: delivered outbox entries, long-expired decoder leases, idempotency keys past their 24 h and edge
   events older than any session they could still bill are pruned.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from luxxon.domain.idempotency import Idempotency
from luxxon.domain.outbox import OutboxService
from luxxon.domain.ports.decoder import LeaseStore
from luxxon.domain.ports.money import SettlementStore
from luxxon.domain.ports.video import EdgeEventStore
from luxxon.domain.sessions import SessionService
from luxxon.observability import logger

DAY_S = 86_400


@dataclass(frozen=True, slots=True)
class SweepReport:
    expired_waiting: int
    expired_live: int
    outbox_delivered: int
    orphans_deleted: int
    pruned: int
    settlements_requeued: int
    settlement_discrepancies: int  # newly flagged
    settlements_failed: int  # all FAILED, a gauge
    oldest_unsettled_s: float  # the oldest open settlement's age, a gauge


class Sweep:
    def __init__(
        self,
        sessions: SessionService,
        outbox: OutboxService,
        leases: LeaseStore,
        idempotency: Idempotency,
        edge_events: EdgeEventStore,
        settlements: SettlementStore,
        *,
        settlement_stall_after_s: int = 120,
        keep_delivered_s: int = 7 * DAY_S,
        keep_expired_leases_s: int = 3_600,
        keep_edge_events_s: int = DAY_S,
    ) -> None:
        self.sessions = sessions
        self.outbox = outbox
        self.leases = leases
        self.idempotency = idempotency
        self.edge_events = edge_events
        self.settlements = settlements
        self.settlement_stall_after_s = settlement_stall_after_s
        self.keep_delivered_s = keep_delivered_s
        self.keep_expired_leases_s = keep_expired_leases_s
        self.keep_edge_events_s = keep_edge_events_s

    def run(self, budget_s: float) -> SweepReport:
        deadline = time.monotonic() + budget_s
        waiting, overrun = self.sessions.expire()
        requeued = self.settlements.requeue_stalled(self.settlement_stall_after_s, limit=500)
        discrepancies = self.settlements.reconcile()
        if discrepancies:
            logger.error("settlements disagree with the chain", extra={"count": discrepancies})
        delivered = self.outbox.drain(limit=200, deadline=deadline)
        orphans = 0
        if time.monotonic() < deadline:
            try:
                orphans = self.sessions.delete_orphan_live_inputs()
            except Exception:  # the video backend is down: the next sweep tries again
                logger.exception("orphan live input reconciliation failed")
        pruned = (
            self.outbox.prune(self.keep_delivered_s)
            + self.leases.prune_expired(self.keep_expired_leases_s)
            + self.idempotency.prune()
            + self.edge_events.prune(self.keep_edge_events_s)
        )
        return SweepReport(
            waiting,
            overrun,
            delivered,
            orphans,
            pruned,
            requeued,
            discrepancies,
            self.settlements.failed_count(),
            self.settlements.oldest_unsettled_s(),
        )
