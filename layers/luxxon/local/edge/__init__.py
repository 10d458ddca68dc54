"""The local video edge: Cloudflare Stream's live-input contract on one machine, with real WebRTC over loopback.

`start_edge(...)` runs it inside an asyncio program (tests, the local system); `python -m luxxon.local.edge`
runs it as a process. See server.py for the HTTP surface and relay.py for how media is forwarded.
"""

from luxxon.local.edge.server import Edge, start_edge

__all__ = ["Edge", "start_edge"]
