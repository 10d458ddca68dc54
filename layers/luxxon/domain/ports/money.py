"""The money plane: settlements, the relayer's and the indexer's view of the chain, wallets and their pools."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol


class SettlementStatus(StrEnum):
    PENDING = "PENDING"  # written with the session's end; its request is on its way to the relayer
    SUBMITTED = "SUBMITTED"  # a transaction carrying it was sent (`tx_hash`, the latest if it was replaced)
    CONFIRMED = "CONFIRMED"  # its Settled event is `confirmations` blocks deep
    FAILED = "FAILED"  # the contract refused it (`failure`: the reason); it keeps its hold until resolved
    NOT_REQUIRED = "NOT_REQUIRED"  # nothing to charge (0 clean seconds): no transaction, no hold


OPEN_SETTLEMENTS = frozenset({SettlementStatus.PENDING, SettlementStatus.SUBMITTED})


@dataclass(frozen=True, slots=True)
class Fees:
    """EIP-1559 fees of a transaction, in wei."""

    max_fee_per_gas: int
    priority_fee_per_gas: int

    def replacing(self, previous: Fees) -> Fees:
        """These fees, raised where needed to replace a pending transaction sent with `previous` (nodes require
        both fees at least 10% higher; 12.5% + 1 wei clears every client's rule)."""
        return Fees(
            max(self.max_fee_per_gas, previous.max_fee_per_gas * 9 // 8 + 1),
            max(self.priority_fee_per_gas, previous.priority_fee_per_gas * 9 // 8 + 1),
        )


@dataclass(frozen=True, slots=True)
class Settlement:
    session_id: str
    status: SettlementStatus
    consumer_wallet: str | None
    operator_wallet: str | None
    clean_seconds: int
    rate_per_second_micro_usdc: int
    max_duration_seconds: int
    amount_micro_usdc: int
    tx_hash: str | None
    nonce: int | None
    fees: Fees | None
    submitted_at: datetime | None
    attempts: int
    block_number: int | None
    block_hash: str | None
    failure: str | None
    discrepancy: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class SignedTx:
    tx_hash: str
    raw: bytes = field(repr=False)
    nonce: int
    fees: Fees


class TxStatus(StrEnum):
    PENDING = "PENDING"  # the node holds it, not mined
    MINED = "MINED"  # in a block, succeeded
    REVERTED = "REVERTED"  # in a block, reverted as a whole
    UNKNOWN = "UNKNOWN"  # the node has never seen it or dropped it


class ChainUnavailable(Exception):
    """The chain's JSON-RPC endpoint did not answer (or answered an error that is not about the request)."""


class NonceTooLow(Exception):
    """The node refused a transaction whose nonce is already used: another transaction of the key got there."""


class SettlementChain(Protocol):
    """The relayer's view of the chain: its key, the settlement contract, the transactions it sends."""

    @property
    def address(self) -> str: ...
    def is_settled(self, session_id: str) -> bool: ...
    def nonces(self) -> tuple[int, int]:
        """(mined, pending): the key's transaction counts at the latest block and including pending ones."""
        ...

    def fees(self) -> Fees: ...
    def sign_settle_many(self, items: Sequence[Settlement], nonce: int, fees: Fees) -> SignedTx: ...
    def send(self, tx: SignedTx) -> None:
        """Broadcast; a node that already has it is success. Raises NonceTooLow, ChainUnavailable."""
        ...

    def tx_status(self, tx_hash: str) -> TxStatus: ...
    def balance_wei(self) -> int: ...


class ContractEvent(StrEnum):
    """The settlement contract's events the system reads (LuxxonSettlement.sol)."""

    DEPOSITED = "Deposited"
    SETTLED = "Settled"
    SETTLEMENT_SKIPPED = "SettlementSkipped"
    WITHDRAWAL_REQUESTED = "WithdrawalRequested"
    WITHDRAWAL_CANCELLED = "WithdrawalCancelled"
    WITHDRAWN = "Withdrawn"
    EARNINGS_WITHDRAWN = "EarningsWithdrawn"


ALREADY_SETTLED = "AlreadySettled"  # the reason `settleMany` gives for skipping an id it has settled


@dataclass(frozen=True, slots=True)
class ChainEvent:
    """One event of the settlement contract. `consumer`/`operator` are the pool and the earnings it touches
    (lowercase), `amount` the µUSDC it moves, `session_id` the session of a Settled or SettlementSkipped."""

    block_number: int
    log_index: int
    block_hash: str
    tx_hash: str
    name: str
    args: dict[str, Any]
    session_id: str | None = None
    consumer: str | None = None
    operator: str | None = None
    amount: int | None = None


class ChainLog(Protocol):
    """The indexer's view of the chain: blocks and the settlement contract's events."""

    @property
    def contract(self) -> str: ...
    def head(self) -> int: ...
    def block_hash(self, number: int) -> str | None: ...
    def events(self, from_block: int, to_block: int) -> list[ChainEvent]: ...


@dataclass(frozen=True, slots=True)
class PoolState:
    """A wallet's balances in the settlement contract at one block (µUSDC)."""

    block: int
    deposits: int
    pending_withdrawal: int
    withdrawal_unlocks_at: int
    owed: int


@dataclass(frozen=True, slots=True)
class Credit:
    """What a wallet's pool can draw on, as one block saw it (µUSDC). A charge settled after `block` is still in
    `deposits`, so it still counts as held."""

    block: int
    deposits: int
    pending_withdrawal: int

    @property
    def available(self) -> int:
        return self.deposits - self.pending_withdrawal


class WalletReader(Protocol):
    """`eth_call` reads of the settlement contract (no web3: this runs in API handlers)."""

    def pool(self, wallet: str) -> PoolState: ...
    def credit(self, wallet: str) -> Credit:
        """The wallet's deposits and pending withdrawal at the latest block, and that block: one round trip."""
        ...

    def head(self) -> int: ...


@dataclass(frozen=True, slots=True)
class NonceRecord:
    next_nonce: int
    age_s: float


class StoreBusy(Exception):
    """The database did not grant a lock in time (or chose this transaction as a deadlock victim): retry later."""


class SettlementStore(Protocol):
    def atomic(self) -> AbstractContextManager[None]: ...
    def get(self, session_id: str) -> Settlement | None: ...
    def get_many(self, session_ids: Sequence[str]) -> list[Settlement]: ...
    def fail(self, session_id: str, failure: str) -> None: ...
    def retry_failed(self, session_id: str) -> bool: ...
    # -- a send (inside `atomic`) --------------------------------------------------------------------------------
    def lock_nonce(self, address: str) -> NonceRecord:
        """Lock the key's nonce row (created at 0): the next nonce this system would use, and how long ago it was
        set."""
        ...

    def set_nonce(self, address: str, next_nonce: int) -> None: ...
    def lock_open(self, seen: Mapping[str, str | None]) -> list[Settlement]:
        """Lock these open settlements whose `tx_hash` is still the one seen (None: not sent) and return them."""
        ...

    def lock_submitted_with_nonce(self, nonce: int) -> list[Settlement]: ...
    def mark_submitted(self, session_ids: Sequence[str], tx: SignedTx) -> None: ...
    # -- the sweep -----------------------------------------------------------------------------------------------
    def requeue_stalled(self, older_than_s: int, limit: int) -> int:
        """Write a fresh request into the outbox for open settlements untouched that long; returns how many."""
        ...

    def reconcile(self) -> int:
        """Flag CONFIRMED settlements whose indexed Settled event disagrees with them; returns how many are new."""
        ...

    def oldest_unsettled_s(self) -> float: ...
    def failed_count(self) -> int: ...


class WalletStore(Protocol):
    """The reads behind `/wallet`: holds and the indexed event log."""

    def holds(self, wallet: str, block: int) -> list[dict[str, Any]]:
        """The sessions holding part of `wallet`'s pool as of chain block `block` (lx_wallet_holds)."""
        ...

    def wallet_events(
        self, contract: str, wallet: str, after: tuple[int, int] | None, limit: int
    ) -> list[dict[str, Any]]: ...
    def withdrawn(self, contract: str, wallet: str) -> int: ...
    def indexed_head(self, contract: str) -> int | None: ...


class ChainIndexStore(Protocol):
    def atomic(self) -> AbstractContextManager[None]: ...
    def recent_blocks(self, contract: str, limit: int) -> list[tuple[int, str]]:
        """The newest blocks read (number, hash), newest first."""
        ...

    def record(self, contract: str, events: Sequence[ChainEvent], block: tuple[int, str], keep_blocks: int) -> None:
        """Store the events and advance the cursor to `block`."""
        ...

    def confirm(self, event: ChainEvent) -> None:
        """The settlement of the Settled `event`'s session is CONFIRMED by it; the session gets its tx hash."""
        ...

    def fail_if_sent_in(self, session_id: str, tx_hash: str, failure: str) -> None:
        """FAILED, if the settlement's latest transaction is `tx_hash` (a later one may still settle it)."""
        ...

    def rewind(self, contract: str, to_block: int) -> int:
        """Forget everything read after `to_block` (a reorg): events, blocks, and the outcomes they decided."""
        ...
