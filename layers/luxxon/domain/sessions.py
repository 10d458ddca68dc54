"""The session lifecycle: request → accept → (start → first frame) LIVE → end, and the pre-LIVE exits.

This module decides; the store (`ports.sessions.SessionStore`) executes. A transition is either one compare-and-swap
(`cas_accept`, `cas_go_live`: the loser gets the session re-read and explains itself), or a unit of work that locks
the row, decides from what it locked, then runs the compare-and-swap (cancel, start, end, expiry). The caller who
cannot see a session gets SESSION_NOT_FOUND; a state that forbids the operation is INVALID_STATE
`session:<op>:<CURRENT_STATE>`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from uuid import UUID

from luxxon.config import Settings
from luxxon.domain import meter, pricing
from luxxon.domain.cursors import decode_session_cursor, encode_session_cursor
from luxxon.domain.idempotency import Idempotency, IdempotencyKey
from luxxon.domain.identity import is_supplier
from luxxon.domain.outbox import OutboxService
from luxxon.domain.ports.frames import Frame, FrameStore, FrameStoreUnavailable
from luxxon.domain.ports.money import ChainUnavailable, Credit, WalletReader
from luxxon.domain.ports.sessions import Locked, NewSession, Session, SessionStore, Transition
from luxxon.domain.ports.video import LiveInput, VideoBackend, VideoBackendError, WindowSource
from luxxon.domain.ports.workspaces import Principal
from luxxon.domain.pricing import PricingService
from luxxon.domain.results import Written
from luxxon.domain.states import METERED, PRE_LIVE, VIDEO_ACTIVE, SessionState
from luxxon.errors import ErrorCode, InvalidState, LxError, invalid_input, session_not_found
from luxxon.models.base import iso_ms
from luxxon.models.sessions import (
    CreateSessionRequest,
    DisconnectReason,
    LxProducerTokenDto,
    LxSessionCancelAllResponseDto,
    LxSessionDto,
    LxSessionOfferDto,
    LxSessionOfferPageDto,
    LxSessionPageDto,
    LxViewerTokenDto,
)
from luxxon.observability import logger
from luxxon.routes import OPERATE

S = SessionState
ACCEPTING = frozenset({"ONLINE", "BUSY"})  # operator availabilities that may take a session


def parse_session_id(raw: str) -> str:
    """A path id that is not a UUID names no session: 404, like any other unknown id."""
    try:
        return str(UUID(raw))
    except ValueError:
        raise session_not_found() from None


def to_dto(session: Session, viewer: Principal) -> LxSessionDto:
    """The session as `viewer` may see it. The video URLs are secrets, scoped by side, state and key:
    - `whepUrl` (anyone holding it may watch): the operator side from /start (to preview), the consumer side only
      while media flows (LIVE/PAUSED; seeds: "Present when state=LIVE");
    - `whipUrl` (publishing): only the operator side, and only to a key that may operate (`sessions:operate`, the
      scope `/producer-token` requires).
    Only the parties see a session this way; the supplier inbox offers the others as `to_offer`."""
    is_operator = session.operator_workspace_id == viewer.workspace_id
    sees_whep = is_operator or session.state in METERED
    sees_whip = is_operator and OPERATE in viewer.scopes
    return LxSessionDto(
        id=session.id,
        consumerWorkspaceId=session.consumer_workspace_id,
        operatorWorkspaceId=session.operator_workspace_id,
        state=session.state,
        maxDurationSeconds=session.max_duration_seconds,
        waitTimeoutSeconds=session.wait_timeout_seconds,
        ratePerSecondMicroUsdc=str(session.rate_per_second_micro_usdc),
        holdMicroUsdc=str(session.hold_micro_usdc),
        startedAt=iso_ms(session.started_at),
        endedAt=iso_ms(session.ended_at),
        cleanSeconds=session.clean_seconds,
        chargedMicroUsdc=str(session.charged_micro_usdc),
        settlementTxHash=session.settlement_tx_hash,
        # The live input's id can address its playback at the edge: it follows the WHEP URL's rule.
        videoBackendRef=session.video_backend_ref if sees_whep else None,
        createdAt=iso_ms(session.created_at) or "",
        requestedLat=session.requested_lat,
        requestedLng=session.requested_lng,
        authorized=session.authorized,
        whepUrl=session.whep_url if sees_whep else None,
        whipUrl=session.whip_url if sees_whip else None,
    )


def to_offer(session: Session) -> LxSessionOfferDto:
    """A REQUESTED session as the inbox offers it to a supplier that is no party yet: what deciding takes, not who
    asked (the consumer's workspace id stays with the parties)."""
    return LxSessionOfferDto(
        id=session.id,
        state=session.state,
        maxDurationSeconds=session.max_duration_seconds,
        waitTimeoutSeconds=session.wait_timeout_seconds,
        ratePerSecondMicroUsdc=str(session.rate_per_second_micro_usdc),
        holdMicroUsdc=str(session.hold_micro_usdc),
        createdAt=iso_ms(session.created_at) or "",
        requestedLat=session.requested_lat,
        requestedLng=session.requested_lng,
    )


def _is_uuid(value: str) -> bool:
    try:
        UUID(value)
    except ValueError:
        return False
    return True


def _won(transition: Transition) -> Session:
    assert transition.won and transition.session is not None, "a CAS on a locked row in the expected state applies"
    return transition.session


class SessionService:
    def __init__(
        self,
        store: SessionStore,
        settings: Settings,
        video: Callable[[], VideoBackend] | None = None,
        outbox: Callable[[], OutboxService] | None = None,
        frames: Callable[[], FrameStore] | None = None,
        idempotency: Idempotency | None = None,
        pricing: PricingService | None = None,
        chain: Callable[[], WalletReader] | None = None,
    ) -> None:
        self.store = store
        self._pricing = pricing
        self._chain = chain
        self.settings = settings
        self.idempotency = idempotency or Idempotency(None)
        # Adapters are built on first use: a handler that never touches video pays nothing for it.
        self._video = video
        self._outbox = outbox
        self._frames = frames

    # -- consumer side -------------------------------------------------------------------------------------------
    def create(
        self, principal: Principal, request: CreateSessionRequest, idem: IdempotencyKey | None = None
    ) -> Written[LxSessionDto]:
        s = self.settings
        duration = s.default_duration_seconds if request.maxDurationSeconds is None else request.maxDurationSeconds
        if not s.min_duration_seconds <= duration <= s.max_duration_seconds:
            raise invalid_input("maxDurationSeconds")
        wait = s.default_wait_timeout_seconds if request.waitTimeoutSeconds is None else request.waitTimeoutSeconds
        wait = min(max(wait, s.min_wait_timeout_seconds), s.max_wait_timeout_seconds)

        live = None if request.quoteId is not None else self._live_rate(request.lat, request.lng)
        with self.store.atomic():
            if (replay := self.idempotency.replay(idem, LxSessionDto)) is not None:
                return replay
            # The wallet's row is locked until commit: the creates drawing on one wallet run one at a time.
            wallet = self.store.lock_wallet(principal.workspace_id)
            if wallet is None:
                raise LxError(ErrorCode.NO_WALLET, "wallet:none")
            if live is None:  # the quote's rate; the quote is used up with this session's creation, or not at all
                assert request.quoteId is not None and self._pricing is not None
                quote: str | None = str(request.quoteId)
                rate = self._pricing.use_quote(principal, request.quoteId, request.lat, request.lng)
            else:
                quote, rate = None, live
            new = NewSession(
                consumer_workspace_id=principal.workspace_id,
                lat=request.lat,
                lng=request.lng,
                geofence_radius_m=s.default_geofence_radius_m,
                max_duration_seconds=duration,
                wait_timeout_seconds=wait,
                rate_per_second_micro_usdc=rate,
                hold_micro_usdc=pricing.hold_micro_usdc(rate, duration),
                consumer_wallet=wallet,
                quote_id=quote,
            )
            # The credit rule: what the wallet's pool can draw on must cover Σ holds drawing on it plus this hold
            # (rate × maxDurationSeconds). The insert applies it with the holds read after the lock.
            created = self.store.insert(new, self._credit(wallet))
            if not created.won or created.session is None:
                raise LxError(ErrorCode.INSUFFICIENT_CREDIT, "credit:insufficient")
            return self.idempotency.remember(idem, Written(to_dto(created.session, principal), created.token))

    def _credit(self, wallet: str) -> Credit | None:
        """What the wallet's pool can draw on now, and the block that says so: one eth_call round trip, nothing cached
        across blocks. None: no credit check (`LX_CREDIT_CHECK`, benchmarks only)."""
        if not self.settings.credit_check:
            return None
        assert self._chain is not None, "no chain reader wired"
        try:
            return self._chain().credit(wallet)
        except ChainUnavailable:
            raise LxError(ErrorCode.CHAIN_UNAVAILABLE, "chain:unreachable") from None

    def _live_rate(self, lat: float, lng: float) -> int:
        assert self._pricing is not None, "no pricing wired"
        return self._pricing.price_at(lat, lng).rate_per_second_micro_usdc

    def get(self, principal: Principal, session_id: str) -> LxSessionDto:
        return to_dto(self._visible(principal, session_id), principal)

    def list_for(self, principal: Principal, state: str | None, cursor: str | None, limit: int) -> LxSessionPageDto:
        if state is not None and state not in S.__members__:
            raise invalid_input("state")
        after = decode_session_cursor(cursor) if cursor else None
        rows = self.store.list_for(principal.workspace_id, S(state) if state else None, after, limit + 1)
        return self._page(rows, limit, principal)

    def cancel(self, principal: Principal, session_id: str) -> Written[LxSessionDto]:
        """REQUESTED or ASSIGNED → CANCELLED, by the consumer; a started live input is torn down."""
        with self.store.atomic():
            session = self._lock_visible(principal, session_id).session
            if session.consumer_workspace_id != principal.workspace_id:
                raise LxError(ErrorCode.NOT_AUTHORIZED, "session:notConsumer")
            if session.state not in PRE_LIVE:
                raise InvalidState("cancel", session.state)
            # Lock the operator too: the transitions that may release it then see each other's committed work.
            self.store.lock_workspaces([session.operator_workspace_id])
            (cancelled,) = self.store.cas_stop([session.id], PRE_LIVE, S.CANCELLED)
            self.store.release_if_idle([session.operator_workspace_id])
        self._teardown([session.id])
        return Written(to_dto(_won(cancelled), principal), cancelled.token)

    # -- operator side -------------------------------------------------------------------------------------------
    def inbox(self, principal: Principal, limit: int) -> LxSessionOfferPageDto:
        if not is_supplier(principal):
            raise LxError(ErrorCode.NOT_OPERATOR, "session:notSupplier")
        rows = self.store.inbox(principal.workspace_id, limit)
        return LxSessionOfferPageDto(items=[to_offer(r) for r in rows[:limit]])

    def accept(
        self, principal: Principal, session_id: str, idem: IdempotencyKey | None = None
    ) -> Written[LxSessionDto]:
        """REQUESTED → ASSIGNED with the caller as operator.

        The operator must cover the requested point (else the session does not exist for it: 404, no state leaks to
        a supplier that could never take it), be ONLINE or BUSY (not OFFLINE), hold fewer than the configured number
        of sessions, and the session must still be REQUESTED and within its wait deadline. The operator's workspace
        row is locked while deciding, so two accepts by one operator can never both pass its cap.
        """
        if not is_supplier(principal):
            raise LxError(ErrorCode.NOT_AUTHORIZED, "session:notSupplier")
        sid, operator = parse_session_id(session_id), principal.workspace_id
        with self.store.atomic():
            if (replay := self.idempotency.replay(idem, LxSessionDto)) is not None:
                return replay
            facts = self.store.accept_facts(operator, sid)  # the operator's row locked first
            if facts is None:
                raise session_not_found()
            session = facts.session
            if session.consumer_workspace_id == operator:
                raise LxError(ErrorCode.NOT_AUTHORIZED, "session:ownRequest")
            if not facts.covers:
                raise session_not_found()
            # A supplier that may not accept learns nothing about the session: these refusals name only itself.
            # OFFLINE, or BUSY finishing its work after choosing OFFLINE: it takes nothing new.
            if facts.availability not in ACCEPTING or facts.chosen_availability not in ACCEPTING:
                raise LxError(ErrorCode.NOT_AUTHORIZED, "operator:offline")
            if facts.active >= self.settings.max_active_sessions_per_operator:
                raise LxError(ErrorCode.NOT_AUTHORIZED, "operator:atCapacity")
            if not facts.has_wallet:  # nowhere to pay it: settlement pays the wallet stamped now
                raise LxError(ErrorCode.NO_WALLET, "wallet:none")
            # One that may, and finds it taken or expired, is a loser of the race (the seeds: 409 with the state).
            if session.state is S.REQUESTED and facts.wait_deadline_passed:
                raise InvalidState("accept", S.EXPIRED)
            if session.state is not S.REQUESTED:
                raise InvalidState("accept", session.state)
            accepted = self.store.cas_accept(sid, operator)
            if not accepted.won:  # another operator got there first, or the deadline passed in between
                current = accepted.session
                if current is None:
                    raise session_not_found()
                raise InvalidState("accept", S.EXPIRED if current.state is S.REQUESTED else current.state)
            return self.idempotency.remember(idem, Written(to_dto(_won(accepted), principal), accepted.token))

    def cancel_all_assignments(
        self, principal: Principal, idem: IdempotencyKey | None = None
    ) -> Written[LxSessionCancelAllResponseDto]:
        if not is_supplier(principal):
            raise LxError(ErrorCode.NOT_OPERATOR, "session:notSupplier")
        with self.store.atomic():
            if (replay := self.idempotency.replay(idem, LxSessionCancelAllResponseDto)) is not None:
                return replay
            ids = self.store.lock_assigned_to(principal.workspace_id)
            self.store.lock_workspaces([principal.workspace_id])
            cancelled = self.store.cas_stop(ids, {S.ASSIGNED}, S.CANCELLED) if ids else []
            # Also gives back a workspace left BUSY with no started session when there was nothing to cancel.
            self.store.release_if_idle([principal.workspace_id])
            cancelled_ids = [t.session.id for t in cancelled if t.session is not None]
            token = cancelled[0].token if cancelled else None
            result = LxSessionCancelAllResponseDto(count=len(cancelled_ids), cancelled=cancelled_ids)
            written = self.idempotency.remember(idem, Written(result, token))
        self._teardown(cancelled_ids)
        return written

    def start(self, principal: Principal, session_id: str, idem: IdempotencyKey | None = None) -> Written[LxSessionDto]:
        """Provision the live input (once) and return the WHIP/WHEP URLs. The state stays ASSIGNED until the
        decoder buffers the first frame. Idempotent: a repeat or concurrent call returns the same URLs (the row lock
        makes a concurrent start wait for the first, so no second live input is ever created)."""
        with self.store.atomic():
            if (replay := self.idempotency.replay(idem, LxSessionDto)) is not None:
                return replay
            locked = self._lock_visible(principal, session_id)
            session = locked.session
            if session.operator_workspace_id != principal.workspace_id:
                raise LxError(ErrorCode.NOT_OPERATOR, "session:notOperator")
            if session.video_backend_ref is not None and session.state in VIDEO_ACTIVE:
                # A reload, a double click, a call after LIVE: the same URLs, and a token that covers the first start
                return self.idempotency.remember(idem, Written(to_dto(session, principal), locked.token))
            if session.state is not S.ASSIGNED:
                raise InvalidState("start", session.state)
            if locked.now > session.created_at + timedelta(seconds=session.wait_timeout_seconds):
                raise InvalidState("start", S.EXPIRED)  # past its wait deadline: the sweep expires it
            live = self._provision(session.id)
            self.store.lock_workspaces([principal.workspace_id])
            started = self.store.cas_attach_video(session.id, live.uid, live.whip_url, live.whep_url)
            self.store.mark_busy(principal.workspace_id)
            return self.idempotency.remember(idem, Written(to_dto(_won(started), principal), started.token))

    def producer_token(self, principal: Principal, session_id: str) -> LxProducerTokenDto:
        session = self._visible(principal, session_id)
        if session.operator_workspace_id != principal.workspace_id:
            raise LxError(ErrorCode.NOT_OPERATOR, "session:notOperator")
        if session.whip_url is None:
            raise InvalidState("producerToken", session.state)
        return LxProducerTokenDto(whipUrl=session.whip_url)

    # -- either side ---------------------------------------------------------------------------------------------
    def end(self, principal: Principal, session_id: str, idem: IdempotencyKey | None = None) -> Written[LxSessionDto]:
        """LIVE → ENDED by either party, the meter run in the same transaction."""
        with self.store.atomic():
            if (replay := self.idempotency.replay(idem, LxSessionDto)) is not None:
                return replay
            locked = self._lock_visible(principal, session_id)
            ended = self._finish(locked, S.ENDED, "end")
            written = self.idempotency.remember(idem, Written(to_dto(_won(ended), principal), ended.token))
        self._teardown([locked.session.id])
        return written

    def viewer_token(self, principal: Principal, session_id: str) -> LxViewerTokenDto:
        """The WHEP URL, to whoever the session DTO would show it (the operator from /start, the consumer once LIVE)."""
        session = self._visible(principal, session_id)
        whep = to_dto(session, principal).whepUrl
        if whep is None:
            raise InvalidState("viewerToken", session.state)
        return LxViewerTokenDto(whepUrl=whep)

    def frame(self, principal: Principal, session_id: str) -> Frame:
        """The latest decoded JPEG: for the consumer while media flows (LIVE/PAUSED, the billed time), for the operator
        from /start (to preview). Before the first frame (and after the session stops) there is none."""
        session = self._visible(principal, session_id)
        assert self._frames is not None, "no frame store wired"
        served = VIDEO_ACTIVE if session.operator_workspace_id == principal.workspace_id else METERED
        try:
            frame = self._frames().get(session.id) if session.state in served else None
        except FrameStoreUnavailable:
            raise LxError(ErrorCode.SERVICE_UNAVAILABLE, "frames:unavailable") from None
        if frame is None:
            raise LxError(ErrorCode.FRAME_NOT_AVAILABLE, f"frame:{session.state}")
        return frame

    # -- system --------------------------------------------------------------------------------------------------
    def go_live(self, session_id: str, first_frame_at: datetime) -> Session:
        """ASSIGNED → LIVE on the first decoded frame; `startedAt` is that frame's time (the meter's anchor).

        A first frame after the wait deadline (createdAt + waitTimeoutSeconds) is too late: the session expires
        instead (as the sweep would have expired it), its live input is torn down, and this raises
        InvalidState(current=EXPIRED)."""
        with self.store.atomic():
            locked = self.store.lock(session_id)
            if locked is None:
                raise session_not_found()
            session = locked.session
            if session.state is not S.ASSIGNED:
                raise InvalidState("live", session.state)
            started_at = min(first_frame_at, locked.now)
            deadline = session.created_at + timedelta(seconds=session.wait_timeout_seconds)
            if started_at <= deadline:
                return _won(self.store.cas_go_live(session.id, started_at))
            self.store.lock_workspaces([session.operator_workspace_id])
            self.store.cas_stop([session.id], {S.ASSIGNED}, S.EXPIRED)
            self.store.release_if_idle([session.operator_workspace_id])
        self._teardown([session.id])
        raise InvalidState("live", S.EXPIRED)

    def disconnected(
        self, session_id: str, reason: DisconnectReason, at: datetime, source: WindowSource = WindowSource.OPERATOR
    ) -> bool:
        """Open a disconnect window (once per reason and source); only a session with a running meter has one to
        pause. The video plane's NETWORK_ERROR windows come from `luxxon.domain.windows` (the edge, the decoder)."""
        return self.store.open_window(session_id, reason.value, at, METERED, source=source.value)

    def reconnected(
        self, session_id: str, reason: DisconnectReason, at: datetime, source: WindowSource = WindowSource.OPERATOR
    ) -> bool:
        """Close the open window of this reason and source, if any."""
        return self.store.close_window(session_id, reason.value, at, source=source.value)

    def expire(self, limit: int = 200) -> tuple[int, int]:
        """The sweep: pre-LIVE sessions past their wait deadline → EXPIRED (no meter); LIVE sessions past
        maxDurationSeconds → EXPIRED with the meter run (capped at the hold). Both write their live input's teardown to
        the outbox, which the sweep then drains within its time budget. Returns (pre-LIVE expired, LIVE expired)."""
        with self.store.atomic():
            due = self.store.lock_past_wait_deadline(limit)
            operators = {s.operator_workspace_id for s in due}
            self.store.lock_workspaces(operators)
            waiting = [t.session.id for t in self.store.cas_stop([s.id for s in due], PRE_LIVE, S.EXPIRED) if t.session]
            self.store.release_if_idle(operators)
        overrun = []
        for session_id in self.store.overdue_live(limit):
            with self.store.atomic():
                locked = self.store.lock(session_id)
                if locked is None or locked.session.state is not S.LIVE:
                    continue  # /end (or another sweep) got there first
                self._finish(locked, S.EXPIRED, "expire")
            overrun.append(session_id)
        return len(waiting), len(overrun)

    def delete_orphan_live_inputs(self) -> int:
        """Delete the live inputs no session holds, older than `orphan_live_input_after_s`.

        /start names each live input after its deployment and session (`luxxon:<stage>:<id>`) and creates it before
        committing the session row; a crash in between leaves a live input that nothing references. Young ones are
        left alone: their /start may still be committing. Returns how many were deleted."""
        assert self._video is not None, "no video backend wired"
        video = self._video()
        cutoff = datetime.now(UTC) - timedelta(seconds=self.settings.orphan_live_input_after_s)
        prefix = self._live_input_name("")
        ours = [
            (li.name.removeprefix(prefix), li.uid)
            for li in video.list_live_inputs()
            if li.name
            and li.name.startswith(prefix)
            and _is_uuid(li.name.removeprefix(prefix))
            and li.created is not None
            and li.created < cutoff
        ]
        held = self.store.video_refs([name for name, _ in ours])
        orphans = [(name, uid) for name, uid in ours if held.get(name) != uid]
        for name, uid in orphans:
            video.delete_live_input(uid)
            logger.warning("deleted an orphaned live input", extra={"session_id": name})
        return len(orphans)

    # -- helpers -------------------------------------------------------------------------------------------------
    def _finish(self, locked: Locked, to_state: SessionState, operation: str) -> Transition:
        """LIVE → `to_state` with the meter run (inside the caller's unit of work, the row locked)."""
        session = locked.session
        if session.state is not S.LIVE:
            raise InvalidState(operation, session.state)
        assert session.started_at is not None  # LIVE implies started
        self.store.lock_workspaces([session.operator_workspace_id])
        bill = meter.run(
            session.started_at,
            locked.now,
            locked.windows,
            session.rate_per_second_micro_usdc,
            session.max_duration_seconds,
        )
        # Settled on chain only when something is charged; a session with 0 clean seconds is NOT_REQUIRED.
        ended = self.store.cas_end(
            session.id,
            to_state,
            locked.now,
            bill.clean_seconds,
            bill.charged_micro_usdc,
            settle=bill.charged_micro_usdc > 0,
        )
        self.store.release_if_idle([session.operator_workspace_id])
        return ended

    def _provision(self, session_id: str) -> LiveInput:
        assert self._video is not None, "no video backend wired"
        try:
            live = self._video().create_live_input(self._live_input_name(session_id))
        except VideoBackendError as error:
            raise LxError(ErrorCode.VIDEO_BACKEND_ERROR, "video:createLiveInput") from error
        return live

    def _live_input_name(self, session_id: str) -> str:
        """`luxxon:<stage>:<session id>`: this deployment's live inputs, told apart from any other's."""
        return f"luxxon:{self.settings.stage}:{session_id}"

    def _teardown(self, session_ids: Iterable[str]) -> None:
        """Deliver what the transition wrote to the outbox (the live input's teardown, the settlement request);
        what fails now, the sweep retries."""
        ids = list(session_ids)
        if self._outbox is not None and ids:
            try:
                self._outbox().flush(ids)
            except Exception:  # the transition is committed; the sweep redelivers what is left in the outbox
                logger.exception("outbox flush failed", extra={"sessions": ids})

    def _visible(self, principal: Principal, session_id: str) -> Session:
        session = self.store.get(parse_session_id(session_id))
        if session is None or not session.is_party(principal.workspace_id):
            raise session_not_found()
        return session

    def _lock_visible(self, principal: Principal, session_id: str) -> Locked:
        locked = self.store.lock(parse_session_id(session_id))
        if locked is None or not locked.session.is_party(principal.workspace_id):
            raise session_not_found()
        return locked

    @staticmethod
    def _page(rows: list[Session], limit: int, principal: Principal) -> LxSessionPageDto:
        page = rows[:limit]
        next_cursor = encode_session_cursor(page[-1].created_at, page[-1].id) if len(rows) > limit and page else None
        return LxSessionPageDto(items=[to_dto(r, principal) for r in page], nextCursor=next_cursor)
