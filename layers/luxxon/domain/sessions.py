"""The session lifecycle: request → accept → (start → first frame) LIVE → end, and the pre-LIVE exits.

Every transition is one compare-and-swap in the store (`... WHERE state = ...`). When a CAS matches nothing,
the loser re-reads the row and reports what it found: SESSION_NOT_FOUND when the caller cannot see the
session, INVALID_STATE `session:<op>:<CURRENT_STATE>` otherwise.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar
from uuid import UUID

from luxxon.adapters.frames import Frame, FrameStore
from luxxon.config import Settings
from luxxon.domain import meter, pricing
from luxxon.domain.identity import Principal
from luxxon.domain.outbox import OutboxService
from luxxon.errors import ErrorCode, LxError, invalid_input, invalid_state, session_not_found
from luxxon.models.base import iso_ms
from luxxon.models.sessions import (
    CreateSessionRequest,
    DisconnectReason,
    LxProducerTokenDto,
    LxSessionCancelAllResponseDto,
    LxSessionDto,
    LxSessionPageDto,
    LxViewerTokenDto,
    SessionState,
)
from luxxon.observability import logger

if TYPE_CHECKING:
    from luxxon.adapters.video import VideoBackend

T = TypeVar("T")
Window = tuple[datetime, datetime | None]
MeterFn = Callable[[datetime, datetime, list[Window], int, int], meter.Meter]
Provision = Callable[[str], tuple[str, str, str]]  # session id -> (live input uid, WHIP URL, WHEP URL)


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    consumer_workspace_id: str
    operator_workspace_id: str | None
    state: str
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
    whep_url: str | None
    whip_url: str | None


@dataclass(frozen=True, slots=True)
class Written(Generic[T]):
    """The result of a write and the consistency token of the transaction that made it."""

    value: T
    token: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a CAS loser needs to explain itself."""

    state: str
    consumer_workspace_id: str
    operator_workspace_id: str | None


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
class EndOutcome:
    """The ended session, or the state that prevented ending (None: not visible to the caller)."""

    session: Session | None
    token: str | None
    current_state: str | None


@dataclass(frozen=True, slots=True)
class StartOutcome:
    """The started session, or why not: not a party (404), not its operator (403), or its current state (409)."""

    session: Session | None
    token: str | None
    current_state: str | None
    is_party: bool
    is_operator: bool = True


class SessionStore(Protocol):
    def insert(self, new: NewSession) -> tuple[Session, str]: ...
    def get_visible(self, session_id: str, workspace_id: str) -> Session | None: ...
    def snapshot(self, session_id: str) -> Snapshot | None: ...
    def list_for(
        self, workspace_id: str, state: str | None, after: tuple[datetime, str] | None, limit: int
    ) -> list[Session]: ...
    def inbox(self, workspace_id: str, limit: int) -> list[Session]: ...
    def cas_accept(self, session_id: str, operator_workspace_id: str) -> tuple[Session, str] | None: ...
    def cas_cancel(self, session_id: str, consumer_workspace_id: str) -> tuple[Session, str] | None: ...
    def cancel_all_assigned(self, operator_workspace_id: str) -> tuple[list[str], str]: ...
    def end(
        self, session_id: str, workspace_id: str | None, meter_fn: MeterFn, final_state: str = "ENDED"
    ) -> EndOutcome: ...
    def expire_waiting(self, limit: int) -> list[str]: ...
    def overdue_live(self, limit: int) -> list[str]: ...
    def cas_go_live(self, session_id: str, started_at: datetime) -> Session | None: ...
    def start(self, session_id: str, operator_workspace_id: str, provision: Provision) -> StartOutcome: ...
    def by_video_ref(self, video_backend_ref: str) -> tuple[str, str] | None: ...
    def open_window(self, session_id: str, reason: str, at: datetime) -> bool: ...
    def close_window(self, session_id: str, reason: str, at: datetime) -> bool: ...


def parse_session_id(raw: str) -> str:
    """A path id that is not a UUID names no session: 404, like any other unknown id."""
    try:
        return str(UUID(raw))
    except ValueError:
        raise session_not_found() from None


def to_dto(session: Session, viewer_workspace_id: str) -> LxSessionDto:
    is_operator = session.operator_workspace_id == viewer_workspace_id
    return LxSessionDto(
        id=session.id,
        consumerWorkspaceId=session.consumer_workspace_id,
        operatorWorkspaceId=session.operator_workspace_id,
        state=SessionState(session.state),
        maxDurationSeconds=session.max_duration_seconds,
        waitTimeoutSeconds=session.wait_timeout_seconds,
        ratePerSecondMicroUsdc=str(session.rate_per_second_micro_usdc),
        holdMicroUsdc=str(session.hold_micro_usdc),
        startedAt=iso_ms(session.started_at),
        endedAt=iso_ms(session.ended_at),
        cleanSeconds=session.clean_seconds,
        chargedMicroUsdc=str(session.charged_micro_usdc),
        settlementTxHash=session.settlement_tx_hash,
        videoBackendRef=session.video_backend_ref,
        createdAt=iso_ms(session.created_at) or "",
        requestedLat=session.requested_lat,
        requestedLng=session.requested_lng,
        authorized=session.authorized,
        whepUrl=session.whep_url,
        # The WHIP URL is a publishing credential: only the operator side ever sees it.
        whipUrl=session.whip_url if is_operator else None,
    )


def encode_cursor(session: Session) -> str:
    raw = f"{session.created_at.isoformat()}|{session.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, _, session_id = raw.partition("|")
        return datetime.fromisoformat(created), str(UUID(session_id))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise invalid_input("cursor") from None


class SessionService:
    def __init__(
        self,
        store: SessionStore,
        settings: Settings,
        video: Callable[[], VideoBackend] | None = None,
        outbox: Callable[[], OutboxService] | None = None,
        frames: Callable[[], FrameStore] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        # Adapters are built on first use: a handler that never touches video pays nothing for it.
        self._video = video
        self._outbox = outbox
        self._frames = frames

    # -- consumer side -------------------------------------------------------------------------------------------
    def create(self, principal: Principal, request: CreateSessionRequest) -> Written[LxSessionDto]:
        s = self.settings
        duration = s.default_duration_seconds if request.maxDurationSeconds is None else request.maxDurationSeconds
        if not s.min_duration_seconds <= duration <= s.max_duration_seconds:
            raise invalid_input("maxDurationSeconds")
        wait = s.default_wait_timeout_seconds if request.waitTimeoutSeconds is None else request.waitTimeoutSeconds
        wait = min(max(wait, s.min_wait_timeout_seconds), s.max_wait_timeout_seconds)
        rate = pricing.spot_rate_micro_usdc(request.lat, request.lng, s.base_rate_micro_usdc)
        session, token = self.store.insert(
            NewSession(
                consumer_workspace_id=principal.workspace_id,
                lat=request.lat,
                lng=request.lng,
                geofence_radius_m=s.default_geofence_radius_m,
                max_duration_seconds=duration,
                wait_timeout_seconds=wait,
                rate_per_second_micro_usdc=rate,
                hold_micro_usdc=pricing.hold_micro_usdc(rate, duration),
            )
        )
        return Written(to_dto(session, principal.workspace_id), token)

    def get(self, principal: Principal, session_id: str) -> LxSessionDto:
        return to_dto(self._visible(principal, session_id), principal.workspace_id)

    def list_for(self, principal: Principal, state: str | None, cursor: str | None, limit: int) -> LxSessionPageDto:
        if state is not None and state not in SessionState.__members__:
            raise invalid_input("state")
        after = decode_cursor(cursor) if cursor else None
        rows = self.store.list_for(principal.workspace_id, state, after, limit + 1)
        return self._page(rows, limit, principal)

    def cancel(self, principal: Principal, session_id: str) -> Written[LxSessionDto]:
        session_id = parse_session_id(session_id)
        won = self.store.cas_cancel(session_id, principal.workspace_id)
        if won is None:
            snap = self._visible_snapshot(session_id, principal)
            if snap.consumer_workspace_id != principal.workspace_id:
                raise LxError(ErrorCode.NOT_AUTHORIZED, "session:notConsumer")
            raise invalid_state("cancel", snap.state)
        session, token = won
        self._teardown([session.id])
        return Written(to_dto(session, principal.workspace_id), token)

    # -- operator side -------------------------------------------------------------------------------------------
    def inbox(self, principal: Principal, limit: int) -> LxSessionPageDto:
        if not principal.is_supplier:
            raise LxError(ErrorCode.NOT_OPERATOR, "session:notSupplier")
        return self._page(self.store.inbox(principal.workspace_id, limit), limit, principal)

    def accept(self, principal: Principal, session_id: str) -> Written[LxSessionDto]:
        if not principal.is_supplier:
            raise LxError(ErrorCode.NOT_AUTHORIZED, "session:notSupplier")
        session_id = parse_session_id(session_id)
        won = self.store.cas_accept(session_id, principal.workspace_id)
        if won is None:
            snap = self.store.snapshot(session_id)
            if snap is None:
                raise session_not_found()
            if snap.consumer_workspace_id == principal.workspace_id:
                raise LxError(ErrorCode.NOT_AUTHORIZED, "session:ownRequest")
            raise invalid_state("accept", snap.state)
        session, token = won
        return Written(to_dto(session, principal.workspace_id), token)

    def cancel_all_assignments(self, principal: Principal) -> Written[LxSessionCancelAllResponseDto]:
        if not principal.is_supplier:
            raise LxError(ErrorCode.NOT_OPERATOR, "session:notSupplier")
        cancelled, token = self.store.cancel_all_assigned(principal.workspace_id)
        self._teardown(cancelled)
        return Written(LxSessionCancelAllResponseDto(count=len(cancelled), cancelled=cancelled), token)

    def start(self, principal: Principal, session_id: str) -> Written[LxSessionDto]:
        """Provision the live input (once) and return the WHIP/WHEP URLs. The state stays ASSIGNED until the
        decoder buffers the first frame. Idempotent: a repeat or concurrent call returns the same URLs."""
        session_id = parse_session_id(session_id)
        outcome = self.store.start(session_id, principal.workspace_id, self._provision)
        if not outcome.is_party:
            raise session_not_found()
        if not outcome.is_operator:
            raise LxError(ErrorCode.NOT_OPERATOR, "session:notOperator")
        if outcome.session is None:
            raise invalid_state("start", outcome.current_state or "UNKNOWN")
        return Written(to_dto(outcome.session, principal.workspace_id), outcome.token or "")

    def producer_token(self, principal: Principal, session_id: str) -> LxProducerTokenDto:
        session = self._visible(principal, session_id)
        if session.operator_workspace_id != principal.workspace_id:
            raise LxError(ErrorCode.NOT_OPERATOR, "session:notOperator")
        if session.whip_url is None:
            raise invalid_state("producerToken", session.state)
        return LxProducerTokenDto(whipUrl=session.whip_url)

    def _provision(self, session_id: str) -> tuple[str, str, str]:
        from luxxon.adapters.video import VideoBackendError  # urllib: only the handlers that provision pay for it

        assert self._video is not None, "no video backend wired"
        try:
            live = self._video().create_live_input(session_id)
        except VideoBackendError as error:
            raise LxError(ErrorCode.VIDEO_BACKEND_ERROR, "video:createLiveInput") from error
        return live.uid, live.whip_url, live.whep_url

    def _teardown(self, session_ids: list[str]) -> None:
        """Deliver the teardown the transition wrote to the outbox; what fails now, the sweep retries."""
        if self._outbox is not None and session_ids:
            try:
                self._outbox().flush(session_ids)
            except Exception:  # the transition is committed; the sweep redelivers what is left in the outbox
                logger.exception("outbox flush failed", extra={"sessions": session_ids})

    # -- either side ---------------------------------------------------------------------------------------------
    def end(self, principal: Principal, session_id: str) -> Written[LxSessionDto]:
        outcome = self.store.end(parse_session_id(session_id), principal.workspace_id, meter.run)
        if outcome.session is None or outcome.token is None:
            if outcome.current_state is None:
                raise session_not_found()
            raise invalid_state("end", outcome.current_state)
        self._teardown([outcome.session.id])
        return Written(to_dto(outcome.session, principal.workspace_id), outcome.token)

    def viewer_token(self, principal: Principal, session_id: str) -> LxViewerTokenDto:
        session = self._visible(principal, session_id)
        if session.whep_url is None:
            raise invalid_state("viewerToken", session.state)
        return LxViewerTokenDto(whepUrl=session.whep_url)

    def frame(self, principal: Principal, session_id: str) -> Frame:
        """The latest decoded JPEG. Before the first frame (and after the session stops) there is none."""
        session = self._visible(principal, session_id)
        assert self._frames is not None, "no frame store wired"
        frame = self._frames().get(session.id) if session.state in ("ASSIGNED", "LIVE", "PAUSED") else None
        if frame is None:
            raise LxError(ErrorCode.FRAME_NOT_AVAILABLE, f"frame:{session.state}")
        return frame

    # -- system --------------------------------------------------------------------------------------------------
    def go_live(self, session_id: str, first_frame_at: datetime) -> Session:
        """ASSIGNED → LIVE on the first decoded frame; `startedAt` is that frame's time (the meter's anchor)."""
        session = self.store.cas_go_live(session_id, first_frame_at)
        if session is None:
            snap = self.store.snapshot(session_id)
            if snap is None:
                raise session_not_found()
            raise invalid_state("live", snap.state)
        return session

    def disconnected(self, session_id: str, reason: DisconnectReason, at: datetime) -> bool:
        """Open a disconnect window (once per reason); only a LIVE session has a meter to pause."""
        return self.store.open_window(session_id, reason.value, at)

    def reconnected(self, session_id: str, reason: DisconnectReason, at: datetime) -> bool:
        """Close the open window of this reason, if any."""
        return self.store.close_window(session_id, reason.value, at)

    def expire(self, limit: int = 200) -> tuple[int, int]:
        """The sweep: pre-LIVE sessions past their wait deadline → EXPIRED (no meter); LIVE sessions past
        maxDurationSeconds → EXPIRED with the meter run (capped at the hold). Both tear their live input down.
        Returns (pre-LIVE expired, LIVE expired)."""
        waiting = self.store.expire_waiting(limit)
        overrun = []
        for session_id in self.store.overdue_live(limit):
            outcome = self.store.end(session_id, None, meter.run, final_state=SessionState.EXPIRED.value)
            if outcome.session is not None:  # else /end (or another sweep) got there first
                overrun.append(session_id)
        self._teardown(waiting + overrun)
        return len(waiting), len(overrun)

    def stream_event(self, video_backend_ref: str, connected: bool, at: datetime) -> str:
        """A live input connected or disconnected: close or open the session's NETWORK_ERROR window."""
        found = self.store.by_video_ref(video_backend_ref)
        if found is None:
            return "none"
        session_id, _state = found
        if connected:
            return "windowClosed" if self.reconnected(session_id, DisconnectReason.NETWORK_ERROR, at) else "none"
        return "windowOpened" if self.disconnected(session_id, DisconnectReason.NETWORK_ERROR, at) else "none"

    # -- helpers -------------------------------------------------------------------------------------------------
    def _visible(self, principal: Principal, session_id: str) -> Session:
        session = self.store.get_visible(parse_session_id(session_id), principal.workspace_id)
        if session is None:
            raise session_not_found()
        return session

    def _visible_snapshot(self, session_id: str, principal: Principal) -> Snapshot:
        snap = self.store.snapshot(session_id)
        if snap is None or principal.workspace_id not in (snap.consumer_workspace_id, snap.operator_workspace_id):
            raise session_not_found()
        return snap

    @staticmethod
    def _page(rows: list[Session], limit: int, principal: Principal) -> LxSessionPageDto:
        page = rows[:limit]
        next_cursor = encode_cursor(page[-1]) if len(rows) > limit and page else None
        return LxSessionPageDto(items=[to_dto(r, principal.workspace_id) for r in page], nextCursor=next_cursor)
