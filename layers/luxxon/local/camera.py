"""A synthetic camera that publishes over WHIP: the operator's phone, for the demo, the tests and the bench.

    publication = await publish(whip_url, width=640, height=480, fps=30, codec="VP8")   # or codec="H264"
    ...
    await publication.close()    # DELETE the WHIP session, close the peer connection

The picture is a diagonal pattern that moves every frame (so consecutive frames differ), generated without
numpy. aiortc encodes it (libvpx / libx264) and sends it like a browser would.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import time
from dataclasses import dataclass
from typing import Literal

import aiohttp
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import VideoFrame

from luxxon.adapters.webrtc import rtc_configuration
from luxxon.local.edge.client import end_session, negotiate, prepare_for, wait_connected
from luxxon.local.edge.media import codec_capabilities

Codec = Literal["VP8", "H264"]
CLOCK_RATE = 90_000
TIME_BASE = fractions.Fraction(1, CLOCK_RATE)


class SyntheticCamera(MediaStreamTrack):
    """A video track of moving diagonal stripes at a steady frame rate."""

    kind = "video"

    def __init__(self, width: int = 640, height: int = 480, fps: int = 30) -> None:
        super().__init__()
        if width % 2 or height % 2 or width <= 0 or height <= 0:
            raise ValueError("width and height must be positive and even")
        self.width, self.height, self.fps = width, height, fps
        self.frames = 0
        self._start: float | None = None
        # A triangle wave, long enough that any row is one slice of it.
        self._luma = bytes(min(255, abs(i % 256 - 128) * 2) for i in range(width + 256))
        self._chroma = bytes(96 + abs(i % 128 - 64) for i in range(width // 2 + 128))

    async def recv(self) -> VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        n = self.frames
        if self._start is None:
            self._start = time.monotonic()
        delay = self._start + n / self.fps - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        frame = self._draw(n)
        frame.pts = n * CLOCK_RATE // self.fps
        frame.time_base = TIME_BASE
        self.frames += 1
        return frame

    def _draw(self, n: int) -> VideoFrame:
        frame = VideoFrame(self.width, self.height, "yuv420p")
        shift = n * 4
        luma, chroma = self._luma, self._chroma
        y_plane, u_plane, v_plane = frame.planes
        y_rows = ((y + shift) % 256 for y in range(self.height))
        y_plane.update(b"".join(luma[o : o + y_plane.line_size] for o in y_rows))
        c_rows = [(y + n) % 128 for y in range(self.height // 2)]
        u_plane.update(b"".join(chroma[o : o + u_plane.line_size] for o in c_rows))
        v_plane.update(b"".join(chroma[127 - o : 127 - o + v_plane.line_size] for o in c_rows))
        return frame


@dataclass
class Publication:
    """A live WHIP publication. `close()` ends it the RFC 9725 way (DELETE) and closes the peer connection."""

    pc: RTCPeerConnection
    camera: SyntheticCamera
    resource_url: str
    codec: str

    @property
    def frames_sent(self) -> int:
        return self.camera.frames

    async def close(self) -> None:
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            await end_session(self.resource_url)
        await self.pc.close()


async def publish(
    whip_url: str,
    width: int = 640,
    height: int = 480,
    fps: int = 30,
    codec: Codec = "VP8",
    *,
    connect_timeout_s: float = 10.0,
) -> Publication:
    """Publish a synthetic camera to a WHIP URL; returns once the connection is up."""
    if codec not in ("VP8", "H264"):
        raise ValueError("codec must be VP8 or H264")
    prepare_for(whip_url)
    camera = SyntheticCamera(width, height, fps)
    pc = RTCPeerConnection(rtc_configuration())
    transceiver = pc.addTransceiver(camera, direction="sendonly")
    transceiver.setCodecPreferences(codec_capabilities([codec]))
    try:
        publication = Publication(pc, camera, await negotiate(whip_url, pc), codec)
    except BaseException:
        await pc.close()
        raise
    try:
        await wait_connected(pc, connect_timeout_s)
    except BaseException:
        await publication.close()
        raise
    return publication


async def _publish_for(whip_url: str, seconds: float) -> None:
    publication = await publish(whip_url)
    try:
        await asyncio.sleep(seconds)
    finally:
        await publication.close()


if __name__ == "__main__":  # python -m luxxon.local.camera <whipUrl> [seconds]: a synthetic camera over WHIP
    import sys

    asyncio.run(_publish_for(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 30.0))
