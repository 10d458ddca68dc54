"""Settlement: the relayer that puts ended sessions on chain, and the indexer that confirms them.

The path of one session's money:

1. `/end` (or the sweep's overrun expiry) writes the settlement row (PENDING, the terms the contract is called with:
   the wallets stamped on the session, clean seconds, rate, max duration) and a request in the outbox, in the
   transaction that ends the session. After commit the request goes to the queue; the sweep re-queues any that
   stall (`Sweep`, `SettlementStore.requeue_stalled`).
2. The relayer (`Relayer.settle`, behind the queue) asks the contract whether the session is settled (a duplicate
   delivery, a crash after sending: success), sends what is left as one `settleMany` transaction, and marks it
   SUBMITTED with the transaction's hash. Exactly once is the contract's: `settleMany` skips an id it has settled,
   so two relayers, or a message delivered three times, can cost gas but never charge twice.
3. The indexer (`Indexer.run`) reads the contract's events `confirmations` blocks deep: a `Settled` event makes its
   settlement CONFIRMED (with that transaction's hash, whichever of a replaced transaction's versions was mined) and
   sets the session's `settlementTxHash`; a `SettlementSkipped` for any reason other than "already settled" makes it
   FAILED with the reason. It records block hashes and rewinds when one changes under it (a reorg deeper than the
   confirmation depth), so confirmations never rest on a block the chain abandoned.

Nonces of the one relayer key: a row per key in the database (`relayer_nonces`) is locked while a transaction is
signed and sent, and the nonce is max(that row, the node's pending count). Concurrent invocations queue on the row;
a crash after sending leaves the node's pending count ahead of the row, so the next send never reuses the nonce.
A transaction pending longer than `settlement_stall_after_s` is replaced (same nonce, fees raised).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from luxxon.domain.ports import (
    OPEN_SETTLEMENTS,
    ChainIndexStore,
    ChainLog,
    ChainUnavailable,
    NonceTooLow,
    Settlement,
    SettlementChain,
    SettlementStatus,
    SettlementStore,
    TxStatus,
)
from luxxon.observability import logger

ST = SettlementStatus
MISSING_WALLET = "wallet:missing"


class Relayer:
    def __init__(self, store: SettlementStore, chain: SettlementChain, stall_after_s: int) -> None:
        self.store = store
        self.chain = chain
        self.stall_after = timedelta(seconds=stall_after_s)

    def settle(self, session_ids: Sequence[str]) -> set[str]:
        """Put these sessions' settlements on chain (a queue batch). Returns the ids to retry (the chain did not
        answer, or another transaction took the nonce); every other id is done: settled, on its way in a
        transaction, or failed visibly."""
        rows = {r.session_id: r for r in self.store.get_many(list(dict.fromkeys(session_ids)))}
        seen: dict[str, str | None] = {}  # what to send: id → the tx hash it had when checked
        stuck: dict[int, list[str]] = {}  # nonces whose pending transaction must be replaced
        retry: set[str] = set()
        for session_id, row in rows.items():
            if row.status not in OPEN_SETTLEMENTS:
                continue  # CONFIRMED, FAILED, NOT_REQUIRED: a duplicate delivery
            if row.consumer_wallet is None or row.operator_wallet is None:
                self.store.fail(session_id, MISSING_WALLET)
                logger.error("settlement failed: no wallet stamped", extra={"session_id": session_id})
                continue
            try:
                action = self._next_step(row)
            except ChainUnavailable:
                retry.add(session_id)
                continue
            if action == "send":
                seen[session_id] = row.tx_hash
            elif action == "replace" and row.nonce is not None:
                stuck.setdefault(row.nonce, []).append(session_id)
        for nonce, ids in stuck.items():
            try:
                self._replace(nonce)
            except (ChainUnavailable, NonceTooLow):
                retry.update(ids)
        if seen:
            try:
                self._send(seen)
            except (ChainUnavailable, NonceTooLow):
                retry.update(seen)
        return retry

    def _next_step(self, row: Settlement) -> str:
        """'done' (settled on chain, or a transaction carrying it is fine), 'send', or 'replace' its transaction."""
        if self.chain.is_settled(row.session_id):
            return "done"  # a duplicate, or a send whose record was lost: the indexer confirms it
        if row.status is ST.SUBMITTED and row.tx_hash is not None:
            status = self.chain.tx_status(row.tx_hash)
            if status is TxStatus.PENDING:
                stalled = row.submitted_at is not None and datetime.now(UTC) - row.submitted_at > self.stall_after
                return "replace" if stalled else "done"
            if status is TxStatus.MINED:
                return "done"  # mined and not settled: the contract skipped it; the indexer records why
            # REVERTED as a whole (paused, relayer role revoked) or dropped: send it again
        return "send"

    def _send(self, seen: dict[str, str | None]) -> None:
        with self.store.atomic():
            next_nonce = self.store.lock_nonce(self.chain.address)
            # Another relayer may have sent some of these while we waited for the nonce row: skip what it sent.
            items = self.store.lock_open(seen)
            if not items:
                return
            _, pending = self.chain.nonces()
            nonce = max(next_nonce, pending)
            tx = self.chain.sign_settle_many(items, nonce, self.chain.fees())
            self.store.mark_submitted([i.session_id for i in items], tx)
            self.chain.send(tx)  # a failure rolls the rows back to what they were: the message is retried
            self.store.set_nonce(self.chain.address, nonce + 1)
        logger.info("settlement sent", extra={"tx": tx.tx_hash, "nonce": nonce, "sessions": len(items)})

    def _replace(self, nonce: int) -> None:
        """Replace the pending transaction of `nonce` with one carrying the same settlements at higher fees."""
        with self.store.atomic():
            self.store.lock_nonce(self.chain.address)
            items = self.store.lock_submitted_with_nonce(nonce)
            mined, _ = self.chain.nonces()
            if not items or mined > nonce:
                return  # mined meanwhile (or the nonce went to another transaction): the next check decides
            previous = items[0].fees
            fees = self.chain.fees() if previous is None else self.chain.fees().replacing(previous)
            tx = self.chain.sign_settle_many(items, nonce, fees)
            self.store.mark_submitted([i.session_id for i in items], tx)
            self.chain.send(tx)
        logger.warning("settlement transaction replaced", extra={"tx": tx.tx_hash, "nonce": nonce})


class Indexer:
    """Follows the settlement contract's events `confirmations` blocks behind the head, in steps of `max_blocks`."""

    def __init__(
        self, store: ChainIndexStore, chain: ChainLog, confirmations: int, start_block: int, max_blocks: int = 2_000
    ) -> None:
        self.store = store
        self.chain = chain
        self.confirmations = confirmations
        self.start_block = start_block
        self.max_blocks = max_blocks
        # Enough block hashes to find where a reorg forked, however deep it is within reason.
        self.keep_blocks = max(64, 4 * confirmations)

    def run(self, max_steps: int = 10) -> int:
        """Read what became confirmed since the last run. Returns the number of events recorded."""
        recorded = 0
        for _ in range(max_steps):
            safe = self.chain.head() - (self.confirmations - 1)
            cursor = self._cursor()
            if cursor >= safe:
                break
            to_block = min(safe, cursor + self.max_blocks)
            events = self.chain.events(cursor + 1, to_block)
            block_hash = self.chain.block_hash(to_block)
            if block_hash is None:
                break  # the node moved under us; the next run reads again
            with self.store.atomic():
                self.store.record(self.chain.contract, events, (to_block, block_hash), self.keep_blocks)
            recorded += len(events)
        return recorded

    def _cursor(self) -> int:
        """The last block read, after checking its hash still is the chain's (else rewinding to the fork point)."""
        blocks = self.store.recent_blocks(self.chain.contract, self.keep_blocks)
        if not blocks:
            return self.start_block - 1
        for number, known in blocks:
            if self.chain.block_hash(number) == known:
                if number != blocks[0][0]:
                    with self.store.atomic():
                        undone = self.store.rewind(self.chain.contract, number)
                    logger.error(
                        "chain reorganized below the confirmation depth; index rewound",
                        extra={"to_block": number, "events_undone": undone},
                    )
                return number
        with self.store.atomic():
            self.store.rewind(self.chain.contract, self.start_block - 1)
        logger.error("chain reorganized beyond the kept block hashes; re-indexing from the start")
        return self.start_block - 1
