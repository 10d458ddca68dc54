"""ICE settings that work offline, over 127.0.0.1.

Two aiortc/aioice defaults break a machine without internet: aiortc adds Google's public STUN server when the
configuration names none (gathering then waits on it), and aioice leaves 127.0.0.1 out of its host candidates
(so two peers on one machine pair through whatever interface the host has, or not at all). `rtc_configuration()`
names no ICE server; `pin_host_candidates()` makes aioice offer exactly the given addresses.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from aiortc import RTCConfiguration

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
