"""The domain's ports: the records it exchanges with the outside world and the interfaces the outside implements.

`luxxon.db` implements the stores (SQL), `luxxon.adapters` the video edge, its webhooks and the frame store; the
composition root (`luxxon.wiring`) plugs them in. Nothing here imports a driver, an SDK or an adapter, and a store
never calls back into the domain: it runs statements and returns records; the domain decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from luxxon.domain.states import SessionState

Window = tuple[datetime, datetime | None]  # a disconnect window: opened at, closed at (None: still open)
Row = dict[str, Any]


# -- sessions -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Session:
    id: str
    consumer_workspace_id: str
    operator_workspace_id: str | None
    state: SessionState
    max_duration_seconds: int
    wait_timeout_seconds: int
    rate_per_second_micro_usdc: int
    hold_micro_usdc: int
    started_at: datetime | None
    ended_at: datetime | None
    clean_seconds: int
    charged_micro_usdc: int
    settlement_tx_hash: str | None
    video_backend_ref: str | None
    created_at: datetime
    requested_lat: float | None
    requested_lng: float | None
    authorized: bool
    whep_url: str | None = field(repr=False)
    whip_url: str | None = field(repr=False)

    def is_party(self, workspace_id: str) -> bool:
        return workspace_id in (self.consumer_workspace_id, self.operator_workspace_id)


@dataclass(frozen=True, slots=True)
class NewSession:
    consumer_workspace_id: str
    lat: float
    lng: float
    geofence_radius_m: int
    max_duration_seconds: int
    wait_timeout_seconds: int
    rate_per_second_micro_usdc: int
    hold_micro_usdc: int
    consumer_wallet: str  # the wallet the session draws on, as locked by `lock_wallet`
    quote_id: str | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    """The one result of a write to a session.

    won: the statement applied; `session` is the session after it and `token` the consistency token of the
    transaction. Lost (a compare-and-swap that matched nothing): `session` is the session as re-read just now
    (None: there is no such session) and `token` is None.
    """

    won: bool
    session: Session | None
    token: str | None = None


@dataclass(frozen=True, slots=True)
class AcceptFacts:
    """What deciding an accept needs, read once the operator's workspace row is locked (so its count cannot move)."""

    session: Session
    availability: str  # the operator's: ONLINE, BUSY or OFFLINE
    covers: bool  # the operator's coverage area contains the requested point
    active: int  # sessions the operator holds now (ASSIGNED, LIVE or PAUSED)
    wait_deadline_passed: bool  # createdAt + waitTimeoutSeconds is behind the database clock
    has_wallet: bool  # the operator's workspace has a wallet to be paid at


@dataclass(frozen=True, slots=True)
class Locked:
    """A session row locked inside a unit of work, with what a decision about it needs."""

    session: Session
    now: datetime  # the database clock when the lock was taken
    windows: list[Window]
    token: str  # the unit of work's consistency token (later than every write the locked row has seen)


class SessionStore(Protocol):
    def atomic(self) -> AbstractContextManager[None]:
        """A unit of work: every call inside runs in one transaction (committed on exit, rolled back on error)."""
        ...

    # reads
    def get(self, session_id: str) -> Session | None: ...
    def video_refs(self, session_ids: Sequence[str]) -> dict[str, str | None]:
        """The live input each of these sessions holds now (None: none); unknown ids are absent."""
        ...

    def list_for(
        self, workspace_id: str, state: SessionState | None, after: tuple[datetime, str] | None, limit: int
    ) -> list[Session]: ...
    def inbox(self, workspace_id: str, limit: int) -> list[Session]: ...
    def overdue_live(self, limit: int) -> list[str]: ...

    # locks (inside `atomic`)
    def lock(self, session_id: str) -> Locked | None: ...
    def lock_assigned_to(self, operator_workspace_id: str) -> list[str]: ...
    def lock_past_wait_deadline(self, limit: int) -> list[Session]: ...
    def lock_workspaces(self, workspace_ids: Iterable[str | None]) -> None: ...
    def accept_facts(self, operator_workspace_id: str, session_id: str) -> AcceptFacts | None: ...

    # writes: every state change is a compare-and-swap (`cas_`) on the states it may leave
    def lock_wallet(self, workspace_id: str) -> str | None:
        """Inside a unit of work: the workspace's wallet, its row in `wallet_locks` locked (None: no wallet)."""
        ...

    def insert(self, new: NewSession, credit: Credit | None) -> Transition:
        """The new session. With `credit`, only if Σ holds drawing on its wallet as of `credit.block` (DESIGN.md,
        read by this statement, after `lock_wallet`) plus its own hold fit in `credit.available`; else not `won` and
        nothing is written."""
        ...

    def cas_accept(self, session_id: str, operator_workspace_id: str) -> Transition: ...
    def cas_attach_video(self, session_id: str, ref: str, whip_url: str, whep_url: str) -> Transition: ...
    def cas_go_live(self, session_id: str, started_at: datetime) -> Transition: ...
    def cas_stop(
        self, session_ids: Sequence[str], from_states: Iterable[SessionState], to_state: SessionState
    ) -> list[Transition]: ...
    def cas_end(
        self,
        session_id: str,
        to_state: SessionState,
        ended_at: datetime,
        clean_seconds: int,
        charged: int,
        *,
        settle: bool,
    ) -> Transition:
        """LIVE → `to_state` with the meter's figures and the session's settlement row (PENDING and a request in
        the outbox when `settle`, else NOT_REQUIRED), in one statement."""
        ...

    def mark_busy(self, workspace_id: str) -> None: ...
    def release_if_idle(self, workspace_ids: Iterable[str | None]) -> None: ...
    def open_window(
        self, session_id: str, reason: str, at: datetime, states: Iterable[SessionState], *, source: str
    ) -> bool:
        """Open a window of this reason and source unless one is open, if the session is in `states`."""
        ...

    def close_window(self, session_id: str, reason: str, at: datetime, *, source: str) -> bool:
        """Close the open window of this reason and source, if any."""
        ...


# -- workspaces and keys ------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the workspace, the key used, what that key may do and what the workspace is."""

    workspace_id: str
    key_id: str
    scopes: frozenset[str]
    roles: frozenset[str]


@dataclass(frozen=True, slots=True)
class NewKey:
    key: str = field(repr=False)  # shown once, never stored
    prefix: str
    key_hash: bytes


class WorkspaceStore(Protocol):
    def atomic(self) -> AbstractContextManager[None]:
        """A unit of work: every call inside runs in one transaction."""
        ...

    def principal_by_key_hash(self, key_hash: bytes) -> Principal | None: ...
    def create_workspace(
        self,
        name: str,
        roles: list[str],
        availability: str,
        wallet_address: str | None,
        coverage_geojson: dict[str, Any] | None,
        coverage_circle: tuple[float, float, float] | None,
    ) -> Row: ...
    def get_workspace(self, workspace_id: str) -> Row | None: ...
    def set_wallet(self, workspace_id: str, wallet_address: str) -> Row | None: ...
    def coverage_is_valid(self, geojson: dict[str, Any]) -> bool: ...
    def update_workspace(
        self, workspace_id: str, name: str | None, availability: str | None, coverage_geojson: dict[str, Any] | None
    ) -> Row | None: ...
    def create_key(self, workspace_id: str, name: str, scopes: list[str], key: NewKey) -> Row: ...
    def get_key(self, workspace_id: str, key_id: str) -> Row | None: ...
    def list_keys(self, workspace_id: str) -> list[Row]: ...
    def revoke_key(self, workspace_id: str, key_id: str) -> Row | None: ...


# -- idempotency keys ---------------------------------------------------------------------------------------------
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


# -- pricing ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PriceInputs:
    supply: int  # ONLINE suppliers whose coverage contains the point
    demand: int  # REQUESTED sessions nearby, created recently


@dataclass(frozen=True, slots=True)
class QuoteFacts:
    """A quote as a create finds it (its row locked)."""

    workspace_id: str
    rate: int
    used: bool
    expired: bool
    distance_m: float  # from the point the session requests


class PricingStore(Protocol):
    def inputs(self, lat: float, lng: float, radius_m: int, window_s: int) -> PriceInputs: ...
    def create_quote(self, workspace_id: str, lat: float, lng: float, rate: int, ttl_s: int) -> Row: ...
    def lock_quote(self, quote_id: str, lat: float, lng: float) -> QuoteFacts | None: ...
    def use_quote(self, quote_id: str) -> None: ...


# -- the outbox ---------------------------------------------------------------------------------------------------
LIVE_INPUT_DELETE = "live_input.delete"  # payload: {"uid": <live input>, "sessionId": <session>}


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


# -- settlement ---------------------------------------------------------------------------------------------------
SETTLEMENT_REQUEST = "settlement.request"  # payload: {"sessionId": <session>}; the message the relayer takes


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


# -- the video edge -----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LiveInput:
    """One live input. `status` is the edge's connection status (e.g. "connected"), None when nobody publishes."""

    uid: str
    whip_url: str = field(repr=False)
    whep_url: str = field(repr=False)
    status: str | None = None


class VideoBackendError(Exception):
    """The video backend refused or could not be reached. `status` is the HTTP status (None: no response)."""

    def __init__(self, message: str, *, status: int | None = None, codes: tuple[int, ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.codes = codes

    @property
    def retryable(self) -> bool:
        """True when trying again later may succeed (network failure, throttling, a server-side error)."""
        return self.status is None or self.status == 429 or self.status >= 500


@dataclass(frozen=True, slots=True)
class LiveInputSummary:
    """A live input as the backend lists it (no URLs): `name` is the one it was created with."""

    uid: str
    name: str | None
    created: datetime | None


@runtime_checkable
class VideoBackend(Protocol):
    def create_live_input(self, name: str) -> LiveInput:
        """Provision a live input named `name` (WebRTC in, WebRTC out, no recording)."""
        ...

    def get_live_input(self, uid: str) -> LiveInput | None:
        """The live input, or None when it does not exist (never created, or deleted)."""
        ...

    def delete_live_input(self, uid: str) -> None:
        """Tear the live input down. Idempotent: deleting one that does not exist is not an error."""
        ...

    def list_live_inputs(self) -> list[LiveInputSummary]:
        """Every live input of the account (to find the ones no session holds)."""
        ...


class WindowSource(StrEnum):
    """Who reported a disconnect window. Each source keeps its own windows (at most one open per session, reason and
    source), so one source never closes another's; the meter counts the union of all of them."""

    EDGE = "edge"  # the video edge's live-input notifications (NETWORK_ERROR)
    DECODER = "decoder"  # the frame decoder: no decodable frame for a while (NETWORK_ERROR)
    OPERATOR = "operator"  # the operator's side: telemetry (STALE_TELEMETRY, OUTSIDE_GEOFENCE)


class InputSignal(StrEnum):
    """What a video-edge event says about a live input's publisher."""

    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    ERRORED = "errored"  # the edge reports an error with the input (bad codec, GOP, quota...)


@dataclass(frozen=True, slots=True)
class EdgeEvent:
    """A verified notification from the video edge.

    A live-input event has `input_id`, `signal` and `at`; any other notification (a destination's test message,
    another product's alert) has `signal` None and changes nothing.
    """

    key: bytes  # identifies the event by its content: the same bytes on every redelivery of it
    event_type: str  # the edge's name for it (e.g. live_input.disconnected)
    input_id: str | None
    signal: InputSignal | None
    at: datetime | None  # when the edge saw it (its own clock, not the delivery's)


@dataclass(frozen=True, slots=True)
class InputEvent:
    """One recorded event of a live input: when the edge saw it and what it said."""

    at: datetime
    signal: InputSignal


class WebhookRejected(Exception):
    """A notification that is not authentic (`reason`), or authentic but malformed (`malformed_field`)."""

    def __init__(self, reason: str, malformed_field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.malformed_field = malformed_field


class EdgeWebhooks(Protocol):
    def verify(self, headers: Mapping[str, str], body: bytes) -> EdgeEvent:
        """The event, or WebhookRejected."""
        ...


class EdgeEventStore(Protocol):
    """Every live input's edge events, and the edge's disconnect windows derived from them."""

    def atomic(self) -> AbstractContextManager[None]: ...
    def lock_session_of_input(self, input_id: str) -> Session | None:
        """Inside `atomic`: the session holding this live input (terminal sessions hold none), its row locked, so
        deliveries for one input (and the session's own transitions) take turns."""
        ...

    def record(self, event: EdgeEvent) -> bool:
        """Keep a live-input event; False when it was already kept (a redelivery)."""
        ...

    def events_of(self, input_id: str) -> list[InputEvent]: ...
    def windows(self, session_id: str, reason: str, source: str) -> list[Window]: ...
    def replace_windows(
        self, session_id: str, reason: str, source: str, remove: Sequence[Window], add: Sequence[Window]
    ) -> None:
        """Delete the windows `remove`, then insert `add` (of this session, reason and source)."""
        ...

    def prune(self, older_than_s: int) -> int:
        """Forget events received longer ago than that (no session they belong to can still be billed)."""
        ...


# -- frames -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Frame:
    jpeg: bytes
    captured_at: datetime


class FrameStoreUnavailable(Exception):
    """The frame store could not be reached (or answered an error)."""


class FrameStore(Protocol):
    """Raises FrameStoreUnavailable when the store cannot be reached."""

    def put(self, session_id: str, frame: Frame) -> None: ...
    def get(self, session_id: str) -> Frame | None: ...
    def delete(self, session_id: str) -> None: ...


# -- decoder leases -----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Lease:
    """A session this decoder process just claimed."""

    session_id: str
    state: SessionState
    whep_url: str = field(repr=False)
    generation: int  # 1 on the first claim, +1 on each takeover


@dataclass(frozen=True, slots=True)
class LeaseStatus:
    """One lease this owner held at renewal time, and what became of it."""

    session_id: str
    state: SessionState
    whep_url: str | None = field(repr=False)
    renewed: bool  # False: released in the same statement (the session is terminal, or no longer decoded here)


class LeaseStore(Protocol):
    def claim(self, owner: str, limit: int, ttl_s: float) -> list[Lease]: ...
    def renew(self, owner: str, keep: Sequence[str], ttl_s: float) -> list[LeaseStatus]: ...
    def release(self, owner: str, session_ids: Sequence[str] | None = None) -> int: ...
    def backlog(self) -> int: ...
    def prune_expired(self, older_than_s: int) -> int:
        """Delete leases that expired more than `older_than_s` ago (their decoder died; nobody renews them)."""
        ...
