"""WHEP signalling (RFC 9725) and the few WebRTC knobs the decoder needs on top of aiortc.

- `negotiate`: POST the complete offer (no trickle ICE: aiortc gathers every candidate first), apply the answer,
  return the session resource URL (`Location`), which `end` DELETEs.
- `configuration`: ICE servers from the settings; none, and host candidates pinned to 127.0.0.1, for a WHEP URL on
  loopback (aioice leaves 127.0.0.1 out of its host candidates, and aiortc falls back to Google's public STUN server
  when none is configured: neither works offline).
- `request_keyframe`: a PLI to every source the receiver heard from lately. aiortc's receiver (1.16, as installed)
  sends one itself when its jitter buffer drops an incomplete frame and when its own decoder thread fails; the
  decoder sends one when a frame fails to decode on its own decode thread (decode.py) and while nothing has decoded
  for `keyframe_after_s`, which also covers a decoder that silently outputs nothing (H.264 before SPS/PPS).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import aiohttp
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription

from decoder_container.config import DecoderConfig
from luxxon.adapters.webrtc import (
    LOOPBACK,
    SignalingError,
    exchange,
    is_loopback_url,
    pin_host_candidates,
    wait_connected,
)

__all__ = ["SignalingError", "configuration", "end", "negotiate", "request_keyframe", "wait_connected"]

SDP = "application/sdp"


def configuration(config: DecoderConfig, whep_url: str) -> RTCConfiguration:
    loopback = config.loopback == "on" or (config.loopback == "auto" and is_loopback_url(whep_url))
    if loopback:
        pin_host_candidates(LOOPBACK)
        return RTCConfiguration(iceServers=[])
    return RTCConfiguration(iceServers=[RTCIceServer(urls=list(config.ice_servers))] if config.ice_servers else [])


ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"


def without_extensions(sdp: str, uris: Sequence[str]) -> str:
    """The SDP without the `a=extmap` lines of these header extensions (the answer then cannot use them)."""
    if not uris:
        return sdp
    kept = [
        line
        for line in sdp.split("\r\n")
        if not (line.startswith("a=extmap:") and line.split(" ", 1)[-1].strip() in uris)
    ]
    return "\r\n".join(kept)


async def negotiate(
    http: aiohttp.ClientSession,
    url: str,
    pc: RTCPeerConnection,
    timeout_s: float,
    *,
    bandwidth_estimation: bool = False,
) -> str:
    """Offer, POST, answer. Returns the absolute URL of the WHEP session resource.

    Without `bandwidth_estimation` the offer leaves out abs-send-time: aiortc's receiver runs its remote bitrate
    estimator (REMB, Python on every packet: a third of the receive path's CPU) only for packets that carry it.
    A server-side decoder has the bandwidth and wants whatever the edge forwards, so it sends no REMB.
    """
    await pc.setLocalDescription(await pc.createOffer())
    offer = pc.localDescription.sdp
    if not bandwidth_estimation:
        offer = without_extensions(offer, [ABS_SEND_TIME])
    answer, resource = await exchange(http, url, offer, timeout_s)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    return resource


async def end(http: aiohttp.ClientSession, resource_url: str, timeout_s: float = 2.0) -> None:
    """DELETE the WHEP session (best effort: the edge also drops it when the connection closes)."""
    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
        async with http.delete(resource_url, timeout=aiohttp.ClientTimeout(total=timeout_s)):
            pass


async def request_keyframe(receiver: RTCRtpReceiver) -> int:
    """Send a PLI for each media source heard lately. Returns how many.

    `_send_rtcp_pli(media_ssrc)` is aiortc's (>= 1.14; the local edge calls it the same way)."""
    sent = 0
    for source in receiver.getSynchronizationSources():
        with contextlib.suppress(Exception):  # the transport may be closing: a lost PLI is retried next time
            await receiver._send_rtcp_pli(source.source)
            sent += 1
    return sent
