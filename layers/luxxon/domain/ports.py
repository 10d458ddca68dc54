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
    def insert(self, new: NewSession) -> Transition: ...
    def cas_accept(self, session_id: str, operator_workspace_id: str) -> Transition: ...
    def cas_attach_video(self, session_id: str, ref: str, whip_url: str, whep_url: str) -> Transition: ...
    def cas_go_live(self, session_id: str, started_at: datetime) -> Transition: ...
    def cas_stop(
        self, session_ids: Sequence[str], from_states: Iterable[SessionState], to_state: SessionState
    ) -> list[Transition]: ...
    def cas_end(
        self, session_id: str, to_state: SessionState, ended_at: datetime, clean_seconds: int, charged: int
    ) -> Transition: ...
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
