"""WHIP/WHEP client side (RFC 9725): offer, answer, Location, DELETE. Used by the synthetic camera, tests, bench.

`negotiate(url, pc)` works for any peer connection (it posts the complete offer, no trickle ICE);
`subscribe(whep_url)` is a ready-made WHEP viewer. When the URL is on loopback, ICE is pinned to 127.0.0.1.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp
from aiortc import RTCPeerConnection, RTCRtpTransceiver, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from luxxon.adapters.webrtc import (
    LOOPBACK,
    exchange,
    is_loopback_url,
    pin_host_candidates,
    rtc_configuration,
    wait_connected,
)
from luxxon.local.edge import media

SDP = "application/sdp"


def prepare_for(url: str) -> None:
    """Pin ICE to loopback when `url` is on loopback (the edge and its peers all run on this machine)."""
    if is_loopback_url(url):
        pin_host_candidates(LOOPBACK)


async def negotiate(url: str, pc: RTCPeerConnection, *, timeout_s: float = 10.0) -> str:
    """POST the peer's offer to a WHIP/WHEP endpoint, apply the answer; return the session resource URL."""
    await pc.setLocalDescription(await pc.createOffer())
    async with aiohttp.ClientSession() as http:
        answer, resource = await exchange(http, url, pc.localDescription.sdp, timeout_s)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    return resource


async def end_session(resource_url: str, *, timeout_s: float = 5.0) -> int:
    """DELETE a WHIP/WHEP session resource; returns the HTTP status (200, or 404 when already gone)."""
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as http,
        http.delete(resource_url) as response,
    ):
        return response.status


@dataclass
class Subscription:
    """A WHEP viewer. With `decode=True`, read `track.recv()` (and keep reading: frames queue up otherwise);
    with `decode=False`, frames are only counted (`encoded_frames`, `keyframes`), never decoded."""

    pc: RTCPeerConnection
    transceiver: RTCRtpTransceiver
    resource_url: str = ""
    encoded_frames: int = 0
    keyframes: int = 0
    codecs: set[str] = field(default_factory=set)

    @property
    def track(self) -> MediaStreamTrack:
        return self.transceiver.receiver.track

    async def close(self) -> None:
        if self.resource_url:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                await end_session(self.resource_url)
        await self.pc.close()

    def _count(self, codec: str, data: bytes, timestamp: int) -> None:
        self.encoded_frames += 1
        self.keyframes += media.is_keyframe(codec, data)
        self.codecs.add(codec)


async def subscribe(
    whep_url: str,
    *,
    decode: bool = True,
    codecs: Sequence[str] | None = None,
    connect_timeout_s: float = 10.0,
) -> Subscription:
    """Subscribe to a WHEP URL and wait until the connection is up. `codecs` narrows the offer (e.g. ["H264"])."""
    prepare_for(whep_url)
    pc = RTCPeerConnection(rtc_configuration())
    subscription = Subscription(pc, pc.addTransceiver("video", direction="recvonly"))
    if codecs:
        subscription.transceiver.setCodecPreferences(media.codec_capabilities(codecs))
    if not decode:
        media.tap_encoded_frames(subscription.transceiver.receiver, subscription._count)
    try:
        subscription.resource_url = await negotiate(whep_url, pc)
        await wait_connected(pc, connect_timeout_s)
    except BaseException:
        await pc.close()
        raise
    return subscription
