"""The relay: one channel per live input, one publisher in, any number of subscribers out, nothing transcoded.

A publisher's encoded frames are taken off its RTCRtpReceiver before decoding (`media.tap_encoded_frames`) and
pushed, as the same bytes, into each subscriber's `EncodedVideoTrack`; each subscriber's RTCRtpSender only
re-packetizes them into RTP (its own SSRC, sequence numbers, NACK history, SRTP). Per subscriber that is a
little Python and one encryption per packet, never a decode or an encode.

Subscribers belong to the channel, not to a publisher:
- a subscriber that arrives while nobody publishes gets a live connection that starts carrying media as soon
  as a publisher does (no dead track from a publisher that already left);
- when the publisher leaves (WHIP DELETE, RTCP BYE, transport failure, or no media for `media_timeout_s`) the
  channel forgets it; when a publisher connects again, subscribers that stayed connected continue with its
  media on the same track: RTP timestamps stay monotonic and each subscriber waits for a keyframe (and asks
  for one, by PLI to the publisher) before it gets frames, so its decoder restarts cleanly;
- a subscriber's PLI/FIR reaches the publisher (throttled to one per `KEYFRAME_REQUEST_INTERVAL_S`).
A subscriber only ever gets the codec it negotiated (VP8 or H.264). If a later publisher uses the other codec,
the edge closes the subscribers that cannot take it, and they must subscribe again.

`mode="mediarelay"` replaces all of this with aiortc's MediaRelay (decode once, re-encode per subscriber).
It exists only as the baseline of tests/bench/edge_relay.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, Literal

from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpTransceiver, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import SessionDescription

from luxxon.adapters.video import LIVE_INPUT_CONNECTED, LIVE_INPUT_DISCONNECTED
from luxxon.adapters.webrtc import rtc_configuration
from luxxon.local.edge import media

log = logging.getLogger("luxxon.edge.relay")

RelayMode = Literal["forward", "mediarelay"]
SUPPORTED_CODECS = ("VP8", "H264")
FRAME_GAP_90K = 3000  # between a publisher's last frame and the next publisher's first, on a continuing track
KEYFRAME_REQUEST_INTERVAL_S = 0.5
CONNECT_TIMEOUT_S = 20.0

_background: set[asyncio.Task[Any]] = set()


def background_tasks() -> set[asyncio.Task[Any]]:
    """Peer-connection closes still under way (an orderly shutdown awaits them)."""
    return set(_background)


def _spawn(coro: Coroutine[Any, Any, Any]) -> None:
    task = asyncio.ensure_future(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)


class NegotiationError(Exception):
    """The offer cannot be served (HTTP 400), or not now (`status`, e.g. 409)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def video_codecs(description: SessionDescription) -> list[str]:
    """Codec names of the first video section, in the offer's order of preference."""
    for section in description.media:
        if section.kind == "video":
            return [c.name for c in section.rtp.codecs if c.name.lower() != "rtx"]
    return []


def _silence_others(pc: RTCPeerConnection, keep: RTCRtpTransceiver) -> None:
    """Answer every other m-line (audio, extra video) inactive: nothing received there, so nothing decoded."""
    for transceiver in pc.getTransceivers():
        if transceiver is not keep:
            transceiver.direction = "inactive"


class Channel:
    """The relay state of one live input."""

    def __init__(
        self,
        uid: str,
        notify: Callable[[str, str], None],
        *,
        media_timeout_s: float = 5.0,
        mode: RelayMode = "forward",
    ) -> None:
        self.uid = uid
        self.mode = mode
        self.media_timeout_s = media_timeout_s
        self.publisher: Publisher | None = None
        self.subscribers: set[Subscriber] = set()
        self.last_codec: str | None = None
        self._notify = notify
        self._last_keyframe_request = -KEYFRAME_REQUEST_INTERVAL_S

    @property
    def status(self) -> str | None:
        """Cloudflare's live input status: "connected" while a publisher's media flows, else None."""
        return "connected" if self.publisher is not None and self.publisher.connected else None

    def choose_codec(self, offered: list[str]) -> str:
        usable = [c for c in offered if c in SUPPORTED_CODECS]
        if not usable:
            raise NegotiationError("the offer has no VP8 or H264 video")
        live = self.publisher.codec if self.publisher is not None else None
        if live is not None:
            if live not in usable:
                raise NegotiationError(f"the live input is publishing {live}, which the offer does not accept")
            return live
        return self.last_codec if self.last_codec in usable else usable[0]

    def attach_publisher(self, publisher: Publisher) -> None:
        previous, self.publisher = self.publisher, publisher
        if publisher.codec is not None:
            self.last_codec = publisher.codec
        if previous is not None:
            previous.close("replaced by a new publisher")

    def publisher_connected(self, publisher: Publisher) -> None:
        log.info("live input %s: publisher connected (%s)", self.uid, publisher.codec)
        self._notify(self.uid, LIVE_INPUT_CONNECTED)
        for subscriber in list(self.subscribers):
            if subscriber.codec != publisher.codec:
                subscriber.close(f"the publisher now sends {publisher.codec}; subscribe again")

    def publisher_frame(self, publisher: Publisher, codec: str, data: bytes, timestamp: int) -> None:
        if publisher is not self.publisher:
            return
        keyframe = media.is_keyframe(codec, data)
        for subscriber in self.subscribers:
            subscriber.deliver(publisher, codec, data, timestamp, keyframe)

    def publisher_gone(self, publisher: Publisher, reason: str) -> None:
        if publisher is self.publisher:
            self.publisher = None
        if publisher.connected:
            log.info("live input %s: publisher disconnected (%s)", self.uid, reason)
            self._notify(self.uid, LIVE_INPUT_DISCONNECTED)

    @property
    def next_keyframe_request_at(self) -> float:
        """When (time.monotonic()) a subscriber's keyframe request will next be forwarded to the publisher."""
        return self._last_keyframe_request + KEYFRAME_REQUEST_INTERVAL_S

    def request_keyframe(self) -> None:
        now = time.monotonic()
        if self.publisher is None or now - self._last_keyframe_request < KEYFRAME_REQUEST_INTERVAL_S:
            return
        self._last_keyframe_request = now
        self.publisher.request_keyframe()

    def close(self) -> None:
        if self.publisher is not None:
            self.publisher.close("live input deleted")
        for subscriber in list(self.subscribers):
            subscriber.close("live input deleted")


class Publisher:
    """One WHIP session: receives video and feeds the channel."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.pc = RTCPeerConnection(rtc_configuration())
        self.codec: str | None = None
        self.connected = False  # media has arrived
        self.closed = False
        self.frames = 0
        self._receiver: RTCRtpReceiver | None = None
        self._last_media = time.monotonic()
        self._tasks: list[asyncio.Task[Any]] = []
        self.relay: MediaRelay | None = None  # mode="mediarelay" only
        self.track: MediaStreamTrack | None = None

    async def negotiate(self, offer: SessionDescription, offer_sdp: str) -> str:
        """Apply the WHIP offer; return the SDP answer."""
        sections = [m for m in offer.media if m.kind == "video"]
        if not sections or sections[0].direction not in ("sendonly", "sendrecv"):
            raise NegotiationError("a WHIP offer must send video")
        transceiver = self.pc.addTransceiver("video", direction="recvonly")
        self._receiver = transceiver.receiver
        if self.channel.mode == "forward":
            media.tap_encoded_frames(transceiver.receiver, self._on_frame, self._on_receiver_end)
        self.pc.on("connectionstatechange", self._on_state)
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        _silence_others(self.pc, transceiver)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        answer = self.pc.localDescription.sdp
        codecs = video_codecs(SessionDescription.parse(answer))
        self.codec = codecs[0] if codecs else None  # the offerer sends the answer's first codec
        if self.channel.mode == "mediarelay":
            self.track = transceiver.receiver.track
            self.relay = MediaRelay()
            self._tasks.append(asyncio.create_task(self._drain_decoded()))
        self._tasks.append(asyncio.create_task(self._watch()))
        return answer

    def request_keyframe(self) -> None:
        if self._receiver is not None and not self.closed:
            _spawn(media.request_keyframe(self._receiver))

    def close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.channel.publisher_gone(self, reason)
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        _spawn(self.pc.close())

    def _on_frame(self, codec: str, data: bytes, timestamp: int) -> None:
        if self.closed:
            return
        self._last_media = time.monotonic()
        self.frames += 1
        if not self.connected:
            self.connected = True
            self.codec = codec
            self.channel.last_codec = codec
            self.channel.publisher_connected(self)
        self.channel.publisher_frame(self, codec, data, timestamp)

    def _on_receiver_end(self) -> None:
        # The receiver stopped: RTCP BYE from the publisher, or its transport went away.
        asyncio.get_running_loop().call_soon(self.close, "the publisher ended the stream")

    async def _on_state(self) -> None:
        if self.pc.connectionState in ("failed", "closed"):
            self.close(f"connection {self.pc.connectionState}")

    async def _watch(self) -> None:
        while not self.closed:
            await asyncio.sleep(0.25)
            limit = (
                self.channel.media_timeout_s if self.connected else max(self.channel.media_timeout_s, CONNECT_TIMEOUT_S)
            )
            if time.monotonic() - self._last_media > limit:
                self.close(f"no media for {limit:g} s")

    async def _drain_decoded(self) -> None:
        """mode="mediarelay": consume the decoded track even with no subscriber, as MediaRelay needs."""
        assert self.relay is not None and self.track is not None
        proxy = self.relay.subscribe(self.track, buffered=False)
        with contextlib.suppress(MediaStreamError):
            while True:
                await proxy.recv()
                self._last_media = time.monotonic()
                self.frames += 1
                if not self.connected:
                    self.connected = True
                    self.channel.publisher_connected(self)


class Subscriber:
    """One WHEP session: sends the channel's video, as it was encoded by the publisher."""

    def __init__(self, channel: Channel, *, queue_frames: int = 60) -> None:
        self.channel = channel
        self.pc = RTCPeerConnection(rtc_configuration())
        self.track: MediaStreamTrack = media.EncodedVideoTrack(queue_frames)
        self.codec: str | None = None
        self.active = False  # the transport is up: frames may flow
        self.closed = False
        self.frames = 0
        self._source: Publisher | None = None
        self._offset = 0
        self._last_pts: int | None = None
        self._waiting_for_keyframe = True
        self._watchdog: asyncio.Task[None] | None = None

    async def negotiate(self, offer: SessionDescription, offer_sdp: str) -> str:
        """Apply the WHEP offer; return the SDP answer."""
        sections = [m for m in offer.media if m.kind == "video"]
        if not sections or sections[0].direction not in ("recvonly", "sendrecv"):
            raise NegotiationError("a WHEP offer must receive video")
        self.codec = self.channel.choose_codec(video_codecs(offer))
        if self.channel.mode == "mediarelay":
            publisher = self.channel.publisher
            if publisher is None or publisher.relay is None or publisher.track is None:
                raise NegotiationError("nothing is published yet", status=409)
            self.track = publisher.relay.subscribe(publisher.track, buffered=False)
        transceiver = self.pc.addTransceiver(self.track, direction="sendonly")
        transceiver.setCodecPreferences(media.codec_capabilities([self.codec]))
        if self.channel.mode == "forward":
            media.on_keyframe_request(transceiver.sender, self.channel.request_keyframe)
        self.pc.on("connectionstatechange", self._on_state)
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        _silence_others(self.pc, transceiver)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self._watchdog = asyncio.create_task(self._watch_connect())
        return self.pc.localDescription.sdp

    def deliver(self, source: Publisher, codec: str, data: bytes, timestamp: int, keyframe: bool) -> None:
        if not self.active or codec != self.codec or not isinstance(self.track, media.EncodedVideoTrack):
            return
        if source is not self._source:  # a new publisher: continue this track's timeline after the last frame
            self._source = source
            start = 0 if self._last_pts is None else self._last_pts + FRAME_GAP_90K
            self._offset = start - timestamp
            self._waiting_for_keyframe = True
        if self._waiting_for_keyframe:
            if not keyframe:
                self.channel.request_keyframe()
                return
            self._waiting_for_keyframe = False
        pts = timestamp + self._offset
        if not self.track.push(data, pts):  # the sender fell behind: drop the backlog, restart at a keyframe
            self.track.clear()
            self._waiting_for_keyframe = True
            self.channel.request_keyframe()
            return
        self._last_pts = pts
        self.frames += 1

    def close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.active = False
        self.channel.subscribers.discard(self)
        log.info("live input %s: subscriber closed (%s)", self.channel.uid, reason)
        if self._watchdog is not None and self._watchdog is not asyncio.current_task():
            self._watchdog.cancel()
        _spawn(self.pc.close())

    async def _on_state(self) -> None:
        state = self.pc.connectionState
        if state == "connected" and not self.closed:
            self.active = True
            self._waiting_for_keyframe = True
            self.channel.request_keyframe()
        elif state in ("failed", "closed"):
            self.close(f"connection {state}")

    async def _watch_connect(self) -> None:
        await asyncio.sleep(CONNECT_TIMEOUT_S)
        if not self.active:
            self.close("the connection was never established")
