"""WebRTC client primitives shared by the decoder (WHEP) and the local tools (WHIP camera, WHEP viewers, the edge).

ICE settings that work offline, over 127.0.0.1:

Two aiortc/aioice defaults break a machine without internet: aiortc adds Google's public STUN server when the
configuration names none (gathering then waits on it), and aioice leaves 127.0.0.1 out of its host candidates
(so two peers on one machine pair through whatever interface the host has, or not at all). `rtc_configuration()`
names no ICE server; `pin_host_candidates()` makes aioice offer exactly the given addresses.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

import aiohttp

if TYPE_CHECKING:
    from aiortc import RTCConfiguration, RTCPeerConnection

LOOPBACK = ("127.0.0.1",)


def rtc_configuration() -> RTCConfiguration:
    """No STUN/TURN server: host candidates only."""
    from aiortc import RTCConfiguration

    return RTCConfiguration(iceServers=[])


def pin_host_candidates(addresses: Sequence[str] = LOOPBACK) -> None:
    """Make every ICE agent in this process gather host candidates on exactly `addresses` (process-wide)."""
    import aioice.ice

    pinned = [ipaddress.ip_address(a) for a in addresses]

    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [str(a) for a in pinned if (a.version == 4 and use_ipv4) or (a.version == 6 and use_ipv6)]

    aioice.ice.get_host_addresses = host_addresses


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SignalingError(Exception):
    """The WHIP/WHEP endpoint refused the offer (e.g. 404: the live input is gone; Cloudflare: not live yet)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"HTTP {status}: {reason}")
        self.status = status


async def wait_connected(pc: RTCPeerConnection, timeout_s: float) -> None:
    """Wait for the peer connection to reach "connected" (ConnectionError if it fails, closes or times out)."""
    done: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def check() -> None:
        if not done.done() and pc.connectionState in ("connected", "failed", "closed"):
            done.set_result(pc.connectionState)

    pc.on("connectionstatechange", check)
    check()
    try:
        state = await asyncio.wait_for(done, timeout_s)
    except TimeoutError:
        raise ConnectionError(f"not connected after {timeout_s:g} s") from None
    finally:
        pc.remove_listener("connectionstatechange", check)
    if state != "connected":
        raise ConnectionError(f"connection {state}")


SDP = "application/sdp"


async def exchange(http: aiohttp.ClientSession, url: str, offer: str, timeout_s: float) -> tuple[str, str]:
    """WHIP/WHEP signalling (RFC 9725): POST the complete offer; returns the SDP answer and the absolute URL of
    the session resource (`Location`, which a DELETE ends). A refusal raises SignalingError."""
    async with http.post(
        url,
        data=offer,
        headers={"Content-Type": SDP, "Accept": SDP},
        timeout=aiohttp.ClientTimeout(total=timeout_s),
    ) as response:
        body = await response.text()
        if response.status != 201:
            raise SignalingError(response.status, body[:200])
        location = response.headers.get("Location")
    if not location:
        raise SignalingError(response.status, "no Location header")
    return body, urljoin(url, location)
