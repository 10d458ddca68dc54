"""The session's records and its store: reads, row locks inside a unit of work, compare-and-swap writes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from luxxon.domain.ports.money import Credit
from luxxon.domain.states import SessionState

Window = tuple[datetime, datetime | None]  # a disconnect window: opened at, closed at (None: still open)


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
    chosen_availability: str  # what the operator chose (ONLINE or OFFLINE), which a release puts back after BUSY
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
    def accept_facts(self, operator_workspace_id: str, session_id: str) -> AcceptFacts | None:
        """Inside a unit of work: the operator's row locked (as `lock_workspaces`), then what an accept decides on,
        read after the lock (so no accept or release of this operator that held the lock before is missed)."""
        ...

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
    def release_if_idle(self, workspace_ids: Iterable[str | None]) -> None:
        """BUSY → the availability each operator chose, for those with no started session left."""
        ...

    def open_window(
        self,
        session_id: str,
        reason: str,
        at: datetime,
        states: Iterable[SessionState],
        *,
        source: str,
        lease_owner: str | None = None,
    ) -> bool:
        """Open a window of this reason and source unless one is open, if the session is in `states` (and, with
        `lease_owner`, only while that decoder holds the session's unexpired lease)."""
        ...

    def close_window(
        self, session_id: str, reason: str, at: datetime, *, source: str, lease_owner: str | None = None
    ) -> bool:
        """Close the open window of this reason and source, if any (with `lease_owner`, as `open_window`)."""
        ...
