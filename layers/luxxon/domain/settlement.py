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
signed and sent (the fees and counts are read before), so concurrent invocations send one at a time. The nonce is the
node's pending count, or the row's when this system sent past it within the last seconds (a lagging node). A crash
after sending leaves the node ahead of the row, so that nonce is never reused; a transaction the node dropped leaves
it behind for good, so its nonce is reused and, when its settlements come back, they are signed again at the
nonce they held if it is still free (else sent anew). A transaction pending longer than `settlement_stall_after_s`
is signed again at its nonce with higher fees (replaced). Transactions that revert as a whole (paused, role
revoked) are retried a few times, then the settlement is FAILED (`tx:reverted`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from enum import Enum

from luxxon.domain.ports.money import (
    ALREADY_SETTLED,
    OPEN_SETTLEMENTS,
    ChainEvent,
    ChainIndexStore,
    ChainLog,
    ChainUnavailable,
    ContractEvent,
    NonceRecord,
    NonceTooLow,
    Settlement,
    SettlementChain,
    SettlementStatus,
    SettlementStore,
    StoreBusy,
    TxStatus,
)
from luxxon.observability import logger

ST = SettlementStatus
MISSING_WALLET = "wallet:missing"
REVERTED = "tx:reverted"
MAX_REVERTED_ATTEMPTS = 3  # transactions carrying a settlement that reverted as a whole before it is FAILED
NONCE_TRUST_S = 30  # how long this system's own record of a sent nonce outranks a node that has not seen it


class Step(Enum):
    DONE = "done"  # settled on chain, or a transaction carrying it is on its way
    SEND = "send"  # in a new transaction
    RESIGN = "resign"  # its transaction again, same nonce, higher fees (stuck or dropped)
    GIVE_UP = "giveUp"  # its transactions keep reverting: FAILED, alarmed


class Relayer:
    def __init__(self, store: SettlementStore, chain: SettlementChain, stall_after_s: int) -> None:
        self.store = store
        self.chain = chain
        self.stall_after = timedelta(seconds=stall_after_s)

    def settle(self, session_ids: Sequence[str]) -> set[str]:
        """Put these sessions' settlements on chain (a queue batch). Returns the ids to retry (the chain or the
        database did not answer in time, or another transaction took the nonce); every other id is done: settled,
        on its way in a transaction, or failed visibly."""
        rows = {r.session_id: r for r in self.store.get_many(list(dict.fromkeys(session_ids)))}
        seen: dict[str, str | None] = {}  # what to send: id → the tx hash it had when checked
        stuck: dict[int, list[str]] = {}  # nonces whose transaction must be signed again
        retry: set[str] = set()
        for session_id, row in rows.items():
            if row.status not in OPEN_SETTLEMENTS:
                continue  # CONFIRMED, FAILED, NOT_REQUIRED: a duplicate delivery
            if row.consumer_wallet is None or row.operator_wallet is None:
                self.store.fail(session_id, MISSING_WALLET)
                logger.error("settlement failed: no wallet stamped", extra={"session_id": session_id})
                continue
            try:
                step = self._next_step(row)
            except ChainUnavailable:
                retry.add(session_id)
                continue
            if step is Step.SEND:
                seen[session_id] = row.tx_hash
            elif step is Step.RESIGN:
                assert row.nonce is not None  # SUBMITTED rows carry their nonce
                stuck.setdefault(row.nonce, []).append(session_id)
            elif step is Step.GIVE_UP:
                self.store.fail(session_id, REVERTED)
                logger.error("settlement failed: its transactions keep reverting", extra={"session_id": session_id})
        for nonce, ids in stuck.items():
            try:
                self._resign(nonce)
            except (ChainUnavailable, NonceTooLow, StoreBusy):
                retry.update(ids)
        if seen:
            try:
                self._send(seen)
            except (ChainUnavailable, NonceTooLow, StoreBusy):
                retry.update(seen)
        return retry

    def _next_step(self, row: Settlement) -> Step:
        if self.chain.is_settled(row.session_id):
            return Step.DONE  # a duplicate, or a send whose record was lost: the indexer confirms it
        if row.status is not ST.SUBMITTED or row.tx_hash is None or row.nonce is None:
            return Step.SEND
        status = self.chain.tx_status(row.tx_hash)
        if status is TxStatus.MINED:
            return Step.DONE  # mined and not settled: the contract skipped it; the indexer records why (FAILED)
        if status is TxStatus.REVERTED:  # as a whole: paused, relayer role revoked, out of gas
            return Step.GIVE_UP if row.attempts >= MAX_REVERTED_ATTEMPTS else Step.SEND
        return self._unmined_step(row, status)

    def _unmined_step(self, row: Settlement, status: TxStatus) -> Step:
        """Its transaction is pending or unknown to the node."""
        assert row.nonce is not None
        mined, _ = self.chain.nonces()
        if row.nonce < mined:
            return Step.SEND  # its nonce went to another transaction (ours was dropped): a new one carries it
        if status is TxStatus.UNKNOWN:
            return Step.RESIGN  # dropped by the node: its nonce is free again and must be filled, or the key stalls
        stalled = row.submitted_at is not None and datetime.now(UTC) - row.submitted_at > self.stall_after
        return Step.RESIGN if stalled else Step.DONE  # pending: replace it once it has waited too long

    def _send(self, seen: dict[str, str | None]) -> None:
        fees = self.chain.fees()  # RPC reads before the nonce row is locked: the lock is held for one send only
        _, pending = self.chain.nonces()
        with self.store.atomic():
            recorded = self.store.lock_nonce(self.chain.address)
            # Another relayer may have sent some of these while we waited for the nonce row: skip what it sent.
            items = self.store.lock_open(seen)
            if not items:
                return
            nonce = self._nonce(recorded, pending)
            tx = self.chain.sign_settle_many(items, nonce, fees)
            self.store.mark_submitted([i.session_id for i in items], tx)
            self.chain.send(tx)  # a failure rolls the rows back to what they were: the message is retried
            self.store.set_nonce(self.chain.address, nonce + 1)
        logger.info("settlement sent", extra={"tx": tx.tx_hash, "nonce": nonce, "sessions": len(items)})

    def _nonce(self, recorded: NonceRecord, pending: int) -> int:
        """The node's pending count, unless this system sent past it moments ago (a load-balanced RPC may not have
        seen that transaction yet). A node that stays behind for longer dropped those transactions: their nonces
        are reused, and the settlements they carried are sent again when their requests come back."""
        if pending >= recorded.next_nonce or recorded.age_s > NONCE_TRUST_S:
            return pending
        return recorded.next_nonce

    def _resign(self, nonce: int) -> None:
        """Sign the settlements of `nonce` again at that nonce with higher fees: replaces a transaction stuck in the
        mempool, or fills the nonce of one the node dropped (which would otherwise stall every later one)."""
        fees = self.chain.fees()
        with self.store.atomic():
            self.store.lock_nonce(self.chain.address)
            items = self.store.lock_submitted_with_nonce(nonce)
            mined, _ = self.chain.nonces()
            if not items or mined > nonce:
                return  # mined meanwhile (or the nonce went to another transaction): the next check decides
            previous = items[0].fees
            tx = self.chain.sign_settle_many(items, nonce, fees if previous is None else fees.replacing(previous))
            self.store.mark_submitted([i.session_id for i in items], tx)
            self.chain.send(tx)
        logger.warning("settlement transaction signed again", extra={"tx": tx.tx_hash, "nonce": nonce})


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
            # The events belong to the branch whose `to_block` hash was the same before and after reading them.
            before = self.chain.block_hash(to_block)
            events = self.chain.events(cursor + 1, to_block)
            after = self.chain.block_hash(to_block)
            if (
                before is None
                or before != after
                or any(e.block_number == to_block and e.block_hash != after for e in events)
            ):
                break  # the chain moved under us; the next run reads again
            with self.store.atomic():
                self.store.record(self.chain.contract, events, (to_block, after), self.keep_blocks)
                self._decide(events)
            recorded += len(events)
        return recorded

    def _decide(self, events: list[ChainEvent]) -> None:
        """What the events mean for settlements (in session order: the same lock order as the relayer's)."""
        for event in sorted((e for e in events if e.session_id), key=lambda e: e.session_id or ""):
            assert event.session_id is not None
            if event.name == ContractEvent.SETTLED:
                self.store.confirm(event)
            elif event.name == ContractEvent.SETTLEMENT_SKIPPED and event.args.get("reason") != ALREADY_SETTLED:
                # Skipped for a reason of its own (the pool could not cover it, invalid terms): FAILED, visibly.
                self.store.fail_if_sent_in(event.session_id, event.tx_hash, f"contract:{event.args.get('reason')}")

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
