"""One session's decoder: a WHEP subscriber that decodes every frame and keeps the latest as a JPEG.

Three tasks per session:
- the subscription loop subscribes (recvonly video) and decodes every frame, keeping only the latest: on a decode
  thread of its own by default (decode.py, "tap"), or by draining `track.recv()` without pause ("track": aiortc
  decodes on its thread and queues every frame, unbounded, so a frame not taken is memory held). It asks for a
  keyframe (PLI) when a frame fails to decode and while nothing decodes, and subscribes again (with backoff) when
  the connection fails, the track ends or media stalls;
- the snapshot loop encodes the latest frame to JPEG off the event loop and stores it, at once for the first frame
  and then every `frame_interval_s`. After the first JPEG is stored, and only then, it turns the session LIVE with
  `startedAt` = the decode time of that frame, so LIVE is never visible before GET /frame returns bytes. Every
  write carries the lease's token and the store refuses it once the session has been claimed again (by a decoder
  that took the lease over while this one had not noticed yet): then this decoder stops the session at once;
- the gap watch: while the session is LIVE, when no frame has decoded for `media_gap_s` it records the decoder's
  NETWORK_ERROR window from the last decoded frame's time, and closes it at the first frame after (`MediaGap`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiortc import RTCPeerConnection, RTCRtpReceiver
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from decoder_container import webrtc
from decoder_container.config import DecoderConfig
from decoder_container.decode import DecodeTap, can_tap
from luxxon.domain.decoder import Backoff, Cadence, FrameWrite, GapStep, MediaGap
from luxxon.domain.ports.frames import Frame, FrameStore
from luxxon.observability import logger

GoLive = Callable[[str, datetime], Awaitable[bool]]  # True once the session is LIVE (or beyond ASSIGNED)
# The frame store refused a write of (session id, lease token): another decoder holds the session now.
Superseded = Callable[[str, int], None]
# Record a media gap's window (open at the last frame / close at the first frame after): the store's answer, None
# when it failed (asked again later).
RecordGap = Callable[[str, GapStep, datetime], Awaitable[bool | None]]
WATCH_INTERVAL_S = 0.25
KEYFRAME_REQUEST_MIN_INTERVAL_S = 0.5


@dataclass(slots=True)
class SessionStats:
    frames: int = 0  # decoded
    subscriptions: int = 0  # connected WHEP subscriptions
    keyframe_requests: int = 0
    decode_errors: int = 0
    jpegs: int = 0
    first_frame_at: float | None = None  # wall clock (time.time())
    first_jpeg_at: float | None = None
    live_at: float | None = None
    gaps: int = 0  # decoder windows opened


class LeaseTakenOver(Exception):
    """The frame store refused our write: it holds a frame of a later claim of the session."""


class JpegEncoder:
    """Decoded frames to JPEG with libavcodec's MJPEG encoder, straight from the decoder's YUV planes.

    No RGB detour: Pillow (frame.to_image().save(...)) costs ~3 ms of CPU for a 640x480 frame here, this ~0.5 ms.
    `quality` is on libjpeg's 1-100 scale, mapped onto MJPEG's quantizer scale (2 best .. 31): 90 -> 3, 80 -> 5.
    Thread-safe: each thread of the encoding pool keeps its own encoder (per picture size).
    """

    def __init__(self, quality: int) -> None:
        self.qscale = max(2, min(31, round((100 - quality) / 5) + 1))
        self._local = threading.local()

    def encode(self, frame: Any) -> bytes:
        contexts: dict[tuple[int, int], Any] = self._local.__dict__.setdefault("contexts", {})
        size = (frame.width, frame.height)
        context = contexts.get(size)
        if context is None:
            import av

            context = av.CodecContext.create("mjpeg", "w")
            context.width, context.height = size
            context.pix_fmt = "yuvj420p"  # full-range 4:2:0, what JPEG (JFIF) carries
            context.time_base = fractions.Fraction(1, 30)
            context.qmin = context.qmax = self.qscale
            if len(contexts) >= 4:  # sizes come and go (a publisher changes resolution): keep a few
                contexts.clear()
            contexts[size] = context
        picture = frame.reformat(format="yuvj420p")  # a new frame (full range), so the decoder's stays untouched
        # Frames of many sessions share this encoder, which wants increasing timestamps in its own time base.
        self._local.count = getattr(self._local, "count", 0) + 1
        picture.pts, picture.time_base = self._local.count, context.time_base
        return b"".join(bytes(packet) for packet in context.encode(picture))


class SessionDecoder:
    def __init__(
        self,
        session_id: str,
        whep_url: str,
        *,
        live: bool,
        config: DecoderConfig,
        http: aiohttp.ClientSession,
        frames: FrameStore,
        go_live: GoLive,
        encoder: Executor,
        jpeg: JpegEncoder,
        token: int,
        frame_ttl_s: float = 60.0,
        on_trouble: Callable[[str], None] | None = None,
        record_gap: RecordGap | None = None,
        superseded: Superseded | None = None,
    ) -> None:
        self.session_id = session_id
        self.whep_url = whep_url
        self.stats = SessionStats()
        self._live = live
        self._config = config
        self._http = http
        self._frames = frames
        self._go_live = go_live
        self._encoder = encoder
        self._token = token  # the lease's fencing token: every frame write carries it
        self._superseded = superseded
        self._on_trouble = on_trouble
        self._refresh_s = max(config.frame_interval_s, frame_ttl_s / 3)
        self._backoff = Backoff(config.backoff_initial_s, config.backoff_max_s)
        self._latest: tuple[Any, float] = (None, 0.0)  # the last decoded av.VideoFrame and its decode (wall) time
        self._seq = 0  # decoded frames, ever
        self._last_error_pli = float("-inf")
        self._loop = asyncio.get_running_loop()
        self._sub_last_frame: float | None = None  # monotonic time of the last frame of the current subscription
        self._first = asyncio.Event()
        self._jpeg = jpeg
        self._task: asyncio.Task[None] | None = None
        self._record_gap = record_gap
        # Taking over a LIVE session: a window the previous decoder left open closes at our first frame.
        self._gap = MediaGap(config.media_gap_s, inherited=live)

    @property
    def live(self) -> bool:
        return self._live

    @property
    def token(self) -> int:
        return self._token

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"decoder:{self.session_id}")

    async def stop(self) -> None:
        """Cancel both loops; closes the peer connection and DELETEs the WHEP session. The frame stays until TTL."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def resubscribe(self, whep_url: str) -> None:
        """The session's WHEP URL changed: drop the current subscription; the loop subscribes to the new one."""
        self.whep_url = whep_url
        if self._task is not None:
            self._task.cancel()
        self._task = asyncio.create_task(self._run(), name=f"decoder:{self.session_id}")

    # -- subscription loop ---------------------------------------------------------------------------------------

    async def _run(self) -> None:
        snapshots = asyncio.create_task(self._snapshots(), name=f"snapshots:{self.session_id}")
        gaps = asyncio.create_task(self._gaps(), name=f"gaps:{self.session_id}")
        try:
            while True:
                reason = await self._subscription()
                delay = self._backoff.next()
                logger.info(
                    "decoder resubscribes",
                    extra={"session_id": self.session_id, "reason": reason, "delay_s": round(delay, 2)},
                )
                if self._on_trouble is not None:
                    self._on_trouble(self.session_id)
                await asyncio.sleep(delay)
        finally:
            for task in (snapshots, gaps):
                task.cancel()
            for task in (snapshots, gaps):
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _subscription(self) -> str:
        """One WHEP subscription, from offer to teardown. Returns why it ended."""
        url = self.whep_url
        pc = RTCPeerConnection(webrtc.configuration(self._config, url))
        receiver = pc.addTransceiver("video", direction="recvonly").receiver
        ended = asyncio.Event()
        tap: DecodeTap | None = None
        if self._config.decode == "tap" and can_tap(receiver):
            tap = DecodeTap(
                receiver,
                on_frame=self._take_threaded,
                on_error=lambda: self._decode_failed(receiver),
                on_end=ended.set,
                name=f"lx-decode-{self.session_id[:8]}",
            )
        resource: str | None = None
        drain: asyncio.Task[None] | None = None
        try:
            resource = await webrtc.negotiate(
                self._http,
                url,
                pc,
                self._config.connect_timeout_s,
                bandwidth_estimation=self._config.bandwidth_estimation,
            )
            await webrtc.wait_connected(pc, self._config.connect_timeout_s)
            self.stats.subscriptions += 1
            self._sub_last_frame = None
            if tap is None:
                drain = asyncio.create_task(self._drain(receiver.track, ended))
            return await self._watch(pc, receiver, ended)
        except Exception as error:  # signalling refused, ICE/DTLS failed, an SDP aiortc rejects: try again later
            return f"{type(error).__name__}: {error}"
        finally:
            if drain is not None:
                drain.cancel()
            if tap is not None:
                tap.close()
            # Shielded: a stop() during teardown must not leave the connection half closed.
            await asyncio.shield(self._close(pc, resource))

    async def _close(self, pc: RTCPeerConnection, resource: str | None) -> None:
        with contextlib.suppress(Exception):
            await pc.close()
        if resource:
            await webrtc.end(self._http, resource)

    async def _watch(self, pc: RTCPeerConnection, receiver: RTCRtpReceiver, ended: asyncio.Event) -> str:
        """Watch a connected subscription: ask for a keyframe while nothing decodes; return when it is over."""
        since = time.monotonic()
        last_pli = float("-inf")
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ended.wait(), WATCH_INTERVAL_S)
            if ended.is_set():
                return "the track ended"
            if pc.connectionState in ("failed", "closed"):
                return f"connection {pc.connectionState}"
            now = time.monotonic()
            last = self._sub_last_frame
            if last is None and now - since > self._config.idle_resubscribe_s:
                return f"no media for {self._config.idle_resubscribe_s:g} s"
            if last is not None and now - last > self._config.stall_timeout_s:
                return f"media stalled for {self._config.stall_timeout_s:g} s"
            quiet = now - (since if last is None else last)
            if quiet >= self._config.keyframe_after_s and now - last_pli >= self._config.keyframe_after_s:
                last_pli = now
                self.stats.keyframe_requests += await webrtc.request_keyframe(receiver)

    def _decode_failed(self, receiver: RTCRtpReceiver) -> None:
        """A frame did not decode (lost reference, corrupt data): ask the publisher for a keyframe right away."""
        now = time.monotonic()
        self.stats.decode_errors += 1
        if now - self._last_error_pli >= KEYFRAME_REQUEST_MIN_INTERVAL_S:
            self._last_error_pli = now
            task = asyncio.ensure_future(webrtc.request_keyframe(receiver))
            task.add_done_callback(self._count_plis)

    def _count_plis(self, task: asyncio.Future[int]) -> None:
        if not task.cancelled() and task.exception() is None:
            self.stats.keyframe_requests += task.result()

    async def _drain(self, track: MediaStreamTrack, ended: asyncio.Event) -> None:
        """decode="track": take every decoded frame off aiortc's queue as it comes. Sets `ended` with the track."""
        try:
            while True:
                frame = await track.recv()
                if self._take(frame):
                    self._first_of_subscription()
        except MediaStreamError:
            ended.set()

    def _take(self, frame: Any) -> bool:
        """Keep a decoded frame as the latest (any thread). True for the first frame of the subscription."""
        at = time.time()
        self._latest = (frame, at)
        self._gap.frame(at)
        self._seq += 1
        self.stats.frames += 1
        first = self._sub_last_frame is None
        self._sub_last_frame = time.monotonic()
        return first

    def _take_threaded(self, frame: Any) -> None:
        """decode="tap": called on the decode thread; only the first frame of a subscription wakes the loop."""
        if self._take(frame):
            self._loop.call_soon_threadsafe(self._first_of_subscription)

    def _first_of_subscription(self) -> None:
        self._backoff.reset()
        if self.stats.first_frame_at is None:
            self.stats.first_frame_at = self._latest[1]
            self._first.set()

    # -- gap watch -----------------------------------------------------------------------------------------------

    async def _gaps(self) -> None:
        if self._record_gap is None:
            return
        interval = min(WATCH_INTERVAL_S, self._config.media_gap_s / 4)
        while True:
            await asyncio.sleep(interval)
            due = self._gap.due(time.time()) if self._live else None
            if due is None:
                continue
            step, at = due
            applied = await self._record_gap(self.session_id, step, datetime.fromtimestamp(at, UTC))
            self._gap.recorded(step, applied)
            if step is GapStep.OPEN and applied:
                self.stats.gaps += 1
            if applied:
                logger.info("decoder media gap", extra={"session_id": self.session_id, "step": step.value, "at": at})

    # -- snapshot loop -------------------------------------------------------------------------------------------

    async def _snapshots(self) -> None:
        loop = asyncio.get_running_loop()
        cadence = Cadence(self._config.frame_interval_s, self._refresh_s)
        jpeg: bytes | None = None
        jpeg_at = 0.0
        first_written: datetime | None = None
        await self._first.wait()
        while True:
            now = time.monotonic()
            action = cadence.due(now, self._seq)
            try:
                if action is FrameWrite.WRITE:
                    seq, (frame, at) = self._seq, self._latest
                    jpeg = await loop.run_in_executor(self._encoder, self._encode_and_store, frame, at)
                    jpeg_at = at
                    cadence.written(now, seq)
                    self.stats.jpegs += 1
                    if first_written is None:
                        first_written = datetime.fromtimestamp(at, UTC)
                        self.stats.first_jpeg_at = time.time()
                elif action is FrameWrite.REFRESH and jpeg is not None:
                    await loop.run_in_executor(self._encoder, self._store, jpeg, jpeg_at)
                    cadence.written(now, self._seq)
                if not self._live and first_written is not None:
                    # The JPEG is readable: now the session may turn LIVE, stamped with that frame's time.
                    self._live = await self._go_live(self.session_id, first_written)
                    if self._live:
                        self.stats.live_at = time.time()
            except LeaseTakenOver:
                logger.warning(
                    "decoder lease taken over: the frame store refused our frame", extra={"session_id": self.session_id}
                )
                if self._superseded is not None:
                    self._superseded(self.session_id, self._token)
                return  # no write, no LIVE, no window from here: the session is the new holder's
            except Exception as error:  # a store or database hiccup: try again at the next tick
                logger.warning("decoder snapshot failed", extra={"session_id": self.session_id, "error": repr(error)})
            await asyncio.sleep(cadence.next_check(time.monotonic()) or self._config.frame_interval_s)

    def _encode_and_store(self, frame: Any, at: float) -> bytes:
        jpeg = self._jpeg.encode(frame)
        self._store(jpeg, at)
        return jpeg

    def _store(self, jpeg: bytes, at: float) -> None:
        frame = Frame(jpeg=jpeg, captured_at=datetime.fromtimestamp(at, UTC))
        if not self._frames.put(self.session_id, frame, self._token):
            raise LeaseTakenOver(self.session_id)
