"""A decoder worker process: one asyncio loop that holds session leases and runs a SessionDecoder per session.

The control loop, in one task so that lease statements never overlap:
- renew every `renew_interval_s` (one statement: extend what is decoded here, release what ended or is no longer
  decoded here, report the rest), then stop the sessions that ended or whose lease is lost;
- claim up to `claim_batch` sessions every `claim_interval_s` while below `max_sessions` and below `max_cpu` of a
  core (so a busy process leaves new sessions to idler processes and tasks, and the backlog scales the fleet out);
- fence: when no renewal has succeeded for `lease_ttl_s - 1 s`, stop every session (another process may claim
  them soon) and claim nothing until the database answers again.
Database calls run on one dedicated thread (the process has one connection); JPEG encoding on a small pool.
On SIGTERM the worker stops its sessions and releases its leases, so another process picks them up at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

import aiohttp

from decoder_container.config import DecoderConfig
from decoder_container.session import JpegEncoder, SessionDecoder
from luxxon.domain.decoder import CpuGauge, Fence, GapStep, needs_decoder, owner_id, reconcile
from luxxon.domain.ports.decoder import Lease, LeaseStore
from luxxon.domain.ports.frames import FrameStore
from luxxon.domain.states import METERED, SessionState
from luxxon.errors import InvalidState, LxError
from luxxon.observability import logger

T = TypeVar("T")
MIN_RENEW_GAP_S = 0.25
GoLiveSync = Callable[[str, datetime], Any]  # SessionService.go_live: raises LxError when not ASSIGNED
GapSync = Callable[[str, datetime, str], bool]  # WindowService.media_stalled / media_resumed, fenced by our lease


class Worker:
    def __init__(
        self,
        config: DecoderConfig,
        *,
        leases: LeaseStore,
        frames: FrameStore,
        go_live: GoLiveSync,
        frame_ttl_s: float = 60.0,
        owner: str | None = None,
        media_stalled: GapSync | None = None,
        media_resumed: GapSync | None = None,
    ) -> None:
        self.config = config
        self.owner = owner or owner_id(socket.gethostname(), os.getpid(), uuid.uuid4().hex[:8])
        self.sessions: dict[str, SessionDecoder] = {}
        self._leases = leases
        self._frames = frames
        self._go_live_sync = go_live
        self._gap_sync = {GapStep.OPEN: media_stalled, GapStep.CLOSE: media_resumed}
        self._frame_ttl_s = frame_ttl_s
        self._fence = Fence(config.lease_ttl_s, margin_s=min(1.0, config.lease_ttl_s / 4))
        self._db_timeout_s = max(1.0, config.lease_ttl_s / 2)
        self._db = ThreadPoolExecutor(1, thread_name_prefix="lx-db")
        self._encoder = ThreadPoolExecutor(config.encode_threads, thread_name_prefix="lx-jpeg")
        self._jpeg = JpegEncoder(config.jpeg_quality)
        self._http: aiohttp.ClientSession | None = None
        self._cpu = CpuGauge()
        self._wake = asyncio.Event()
        self._stopping: set[asyncio.Task[None]] = set()

    # -- lifecycle -----------------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set; then hand every session back."""
        self._http = aiohttp.ClientSession()
        logger.info("decoder worker started", extra={"owner": self.owner, "max_sessions": self.config.max_sessions})
        try:
            await self._control(stop)
        finally:
            await self._shutdown()

    async def _shutdown(self) -> None:
        await asyncio.gather(*(self._stop(sid, "shutdown") for sid in list(self.sessions)), return_exceptions=True)
        if self._stopping:
            await asyncio.gather(*self._stopping, return_exceptions=True)
        try:
            released = await self._call(self._leases.release, self.owner, None)
            logger.info("decoder worker stopped", extra={"owner": self.owner, "released": released})
        except Exception as error:
            logger.warning("decoder worker could not release its leases", extra={"error": repr(error)})
        if self._http is not None:
            await self._http.close()
        self._db.shutdown(wait=False)
        self._encoder.shutdown(wait=False)

    def stats(self) -> dict[str, dict[str, Any]]:
        return {sid: {"live": d.live, **_asdict(d.stats)} for sid, d in self.sessions.items()}

    # -- control loop --------------------------------------------------------------------------------------------

    async def _control(self, stop: asyncio.Event) -> None:
        cfg = self.config
        next_renew = next_claim = last_renew = 0.0
        while not stop.is_set():
            if self._wake.is_set():  # renew early, but not more often than MIN_RENEW_GAP_S (many troubles, one renewal)
                self._wake.clear()
                next_renew = min(next_renew, last_renew + MIN_RENEW_GAP_S)
            now = time.monotonic()
            if now >= next_renew:
                last_renew = now
                await self._renew()
                next_renew = time.monotonic() + cfg.renew_interval_s
            if not self._fence.holds(time.monotonic()) and self.sessions:
                logger.warning("decoder lease fence expired: stopping every session", extra={"owner": self.owner})
                for session_id in list(self.sessions):
                    self._stop_later(session_id, "fence expired")
            now = time.monotonic()
            if now >= next_claim:
                claimed = await self._claim()
                full_batch = claimed >= cfg.claim_batch and len(self.sessions) < cfg.max_sessions
                # More may be waiting: come back soon. Otherwise poll with jitter so processes interleave.
                pause = cfg.claim_interval_s / 10 if full_batch else cfg.claim_interval_s * random.uniform(0.8, 1.2)
                next_claim = time.monotonic() + pause
            timeout = max(0.0, min(next_renew, next_claim) - time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_first_of(stop, self._wake), timeout)

    async def _renew(self) -> None:
        sent = time.monotonic()
        try:
            statuses = await self._call(self._leases.renew, self.owner, list(self.sessions), self.config.lease_ttl_s)
        except Exception as error:
            logger.warning("decoder lease renewal failed", extra={"owner": self.owner, "error": repr(error)})
            return
        self._fence.renewed(sent)
        plan = reconcile({sid: d.whep_url for sid, d in self.sessions.items()}, statuses)
        for session_id in plan.stop_ended:
            self._stop_later(session_id, "session ended")
        for session_id in plan.stop_lost:
            self._stop_later(session_id, "lease lost")
        for session_id, url in plan.resubscribe.items():
            self.sessions[session_id].resubscribe(url)

    async def _claim(self) -> int:
        room = self.config.max_sessions - len(self.sessions)
        busy = self._cpu.sample(time.monotonic(), time.process_time()) >= self.config.max_cpu
        if room <= 0 or busy or not self._fence.holds(time.monotonic()):
            return 0
        try:
            leases = await self._call(
                self._leases.claim, self.owner, min(room, self.config.claim_batch), self.config.lease_ttl_s
            )
        except Exception as error:
            logger.warning("decoder lease claim failed", extra={"owner": self.owner, "error": repr(error)})
            return 0
        for lease in leases:
            self._start(lease)
        return len(leases)

    # -- sessions ------------------------------------------------------------------------------------------------

    def _start(self, lease: Lease) -> None:
        if lease.session_id in self.sessions or not needs_decoder(lease.state, lease.whep_url):
            return
        assert self._http is not None
        decoder = SessionDecoder(
            lease.session_id,
            lease.whep_url,
            live=lease.state is not SessionState.ASSIGNED,
            config=self.config,
            http=self._http,
            frames=self._frames,
            go_live=self._go_live,
            encoder=self._encoder,
            jpeg=self._jpeg,
            token=lease.token,
            frame_ttl_s=self._frame_ttl_s,
            on_trouble=self._trouble,
            record_gap=self._record_gap if all(self._gap_sync.values()) else None,
            superseded=self._superseded,
        )
        self.sessions[lease.session_id] = decoder
        decoder.start()
        logger.info(
            "decoder claimed a session",
            extra={
                "session_id": lease.session_id,
                "state": lease.state,
                "generation": lease.generation,
                "token": lease.token,
            },
        )

    def _stop_later(self, session_id: str, reason: str) -> None:
        task = asyncio.create_task(self._stop(session_id, reason))
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def _stop(self, session_id: str, reason: str) -> None:
        decoder = self.sessions.pop(session_id, None)
        if decoder is None:
            return
        logger.info("decoder stops a session", extra={"session_id": session_id, "reason": reason})
        await decoder.stop()

    def _superseded(self, session_id: str, token: int) -> None:
        """The frame store refused a frame of this claim: a later claim holds the session. Stop decoding it now, not
        at the next renewal (which would find the lease gone)."""
        decoder = self.sessions.get(session_id)
        if decoder is not None and decoder.token == token:
            self._stop_later(session_id, "lease taken over")

    def _trouble(self, session_id: str) -> None:
        """A subscription ended: renew now, so a session that ended is stopped without waiting for the tick."""
        self._wake.set()

    async def _go_live(self, session_id: str, first_frame_at: datetime) -> bool:
        """ASSIGNED → LIVE. True when the session is LIVE now (by us or before us), False to retry later."""
        try:
            await self._call(self._go_live_sync, session_id, first_frame_at)
        except LxError as error:
            if isinstance(error, InvalidState) and error.current in METERED:
                return True  # already LIVE: another decoder got there, or a retry of ours that landed
            logger.info(
                "decoder cannot turn the session LIVE", extra={"session_id": session_id, "detail": error.detail}
            )
            self._wake.set()  # most likely terminal: the renewal stops it
            return False
        logger.info("session LIVE on its first frame", extra={"session_id": session_id})
        return True

    async def _record_gap(self, session_id: str, step: GapStep, at: datetime) -> bool | None:
        """Open (at the last frame) or close (at the first frame after) the decoder's NETWORK_ERROR window. The
        store's answer; None when it could not be reached (the session decoder asks again)."""
        record = self._gap_sync[step]
        assert record is not None
        try:
            return bool(await self._call(record, session_id, at, self.owner))
        except Exception as error:
            logger.warning(
                "decoder could not record a media gap",
                extra={"session_id": session_id, "step": step.value, "error": repr(error)},
            )
            return None

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a database call on the database thread. A call that hangs (a partitioned network) times out, so the
        control loop keeps running and the fence still stops the sessions before their leases can lapse."""
        call = asyncio.get_running_loop().run_in_executor(self._db, fn, *args)
        return await asyncio.wait_for(call, self._db_timeout_s)


async def _first_of(*events: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def _asdict(stats: Any) -> dict[str, Any]:
    return {name: getattr(stats, name) for name in stats.__slots__}
