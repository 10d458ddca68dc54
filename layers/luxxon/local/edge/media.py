"""Encoded-media plumbing on top of aiortc: take frames off a receiver before decoding, send them pre-encoded.

aiortc has no public API for either direction of a forwarding relay, so this module holds the few places that
reach into it (pinned by `aiortc>=1.10,<2` and exercised by tests/integration/test_video_edge.py):

- `tap_encoded_frames(receiver, sink)`: an RTCRtpReceiver reassembles complete encoded frames in its jitter
  buffer and hands them to a decoder thread through a queue. We put our own object in that queue's place
  before the receiver starts: frames go to `sink` on the event loop, nothing is decoded, nothing piles up.
- `EncodedVideoTrack`: a track whose `recv()` returns `av.Packet`s. RTCRtpSender sends packets as they are
  (`Encoder.pack`: RTP packetization only), which is aiortc's documented pre-encoded path.
- `on_keyframe_request(sender, callback)`: a subscriber's PLI/FIR normally makes the sender's encoder emit a
  keyframe; with pre-encoded media only the publisher can, so the request is handed to `callback`.
- `request_keyframe(receiver)`: send a PLI to the publisher of a receiver.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
from collections.abc import Callable, Sequence
from typing import Any

import av
from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.mediastreams import VIDEO_TIME_BASE, MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecCapability

# An encoded frame as the receiver reassembled it: (codec name such as "VP8" / "H264", bitstream, RTP timestamp
# relative to the receiver's first frame, in 90 kHz units).
FrameSink = Callable[[str, bytes, int], None]

_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"
H264_IDR, H264_SPS = 5, 7


class _EncodedFrameTap:
    """Stands in for RTCRtpReceiver's decoder queue (see module doc). `get()` serves only the stop signal."""

    def __init__(self, sink: FrameSink, on_end: Callable[[], None] | None) -> None:
        self._sink = sink
        self._on_end = on_end
        self._control: queue.Queue[None] = queue.Queue()

    def put(self, item: Any) -> None:
        if item is None:  # the receiver stops (RTCP BYE, transport closed): release its idle decoder thread
            self._control.put(None)
            if self._on_end is not None:
                self._on_end()
            return
        codec, frame = item
        self._sink(codec.name, frame.data, frame.timestamp)

    def get(self, block: bool = True, timeout: float | None = None) -> None:
        return self._control.get(block, timeout)


def tap_encoded_frames(receiver: RTCRtpReceiver, sink: FrameSink, on_end: Callable[[], None] | None = None) -> None:
    """Route the receiver's complete encoded frames to `sink` instead of its decoder. Call before it starts."""
    if not hasattr(receiver, _DECODER_QUEUE):
        raise RuntimeError("this aiortc version has no RTCRtpReceiver decoder queue to tap")
    setattr(receiver, _DECODER_QUEUE, _EncodedFrameTap(sink, on_end))


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Hand the remote's PLI/FIR for this sender to `callback` (the sender cannot make keyframes itself)."""
    sender._send_keyframe = callback  # type: ignore[method-assign]


async def request_keyframe(receiver: RTCRtpReceiver) -> None:
    """Send a PLI for every source the receiver heard from lately (an RTX SSRC simply ignores it)."""
    for source in receiver.getSynchronizationSources():
        await receiver._send_rtcp_pli(source.source)


def codec_capabilities(names: Sequence[str]) -> list[RTCRtpCodecCapability]:
    """aiortc's video codec capabilities for `names` (in that order), plus RTX."""
    video = RTCRtpReceiver.getCapabilities("video")
    capabilities = video.codecs if video is not None else []
    chosen = [c for name in names for c in capabilities if c.name == name]
    return chosen + [c for c in capabilities if c.name.lower() == "rtx"]


def is_keyframe(codec_name: str, data: bytes) -> bool:
    """Whether a decoder can start at this frame: a VP8 key frame, or an H.264 access unit with an IDR/SPS."""
    if codec_name == "VP8":
        return bool(data) and not data[0] & 0x01  # frame tag bit 0 is the inverse key frame flag
    if codec_name == "H264":
        start = data.find(b"\x00\x00\x01")
        while start != -1 and start + 3 < len(data):
            if data[start + 3] & 0x1F in (H264_IDR, H264_SPS):
                return True
            start = data.find(b"\x00\x00\x01", start + 3)
        return False
    return False


class EncodedVideoTrack(MediaStreamTrack):
    """A video track of pre-encoded frames pushed by the relay; bounded, so a stalled sender drops, never hoards."""

    kind = "video"

    def __init__(self, maxsize: int = 60) -> None:
        super().__init__()
        self._queue: asyncio.Queue[tuple[bytes, int] | None] = asyncio.Queue(maxsize)

    def push(self, data: bytes, pts: int) -> bool:
        """Queue one encoded frame (`pts` in 90 kHz units). False when the queue is full (the frame is dropped)."""
        try:
            self._queue.put_nowait((data, pts))
        except asyncio.QueueFull:
            return False
        return True

    def clear(self) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()

    def stop(self) -> None:
        self.clear()
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)
        super().stop()

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        item = await self._queue.get()
        if item is None:
            raise MediaStreamError
        data, pts = item
        packet = av.Packet(data)
        packet.pts = pts
        packet.time_base = VIDEO_TIME_BASE
        return packet
