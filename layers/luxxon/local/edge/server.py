"""The local video edge: Cloudflare Stream's live-inputs REST subset, WHIP ingest and WHEP egress (RFC 9725).

REST (Bearer token; Cloudflare's `{result, success, errors, messages}` envelope; any account id):
    POST   /client/v4/accounts/{account}/stream/live_inputs          create  -> result.uid, webRTC, webRTCPlayback
    GET    /client/v4/accounts/{account}/stream/live_inputs          list   -> {liveInputs (no URLs), range, total}
    GET    /client/v4/accounts/{account}/stream/live_inputs/{uid}    get (404 when unknown)
    DELETE /client/v4/accounts/{account}/stream/live_inputs/{uid}    delete (tears down its publisher/subscribers)
WebRTC (the URL is the credential; every path segment after the prefix is secrets.token_urlsafe(32)):
    POST   /whip/{key}          application/sdp offer -> 201 answer + Location    (415 / 400 / 404)
    POST   /whep/{key}          application/sdp offer -> 201 answer + Location    (415 / 400 / 404)
    DELETE /resources/{id}      ends that WHIP or WHEP session                     (404 when unknown)
    PATCH  /resources/{id}      405: no trickle ICE nor ICE restart (the offer carries every candidate)
GET /healthz reports counts (no secrets).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiortc.sdp import SessionDescription

from luxxon.adapters.webrtc import LOOPBACK, is_loopback_url, pin_host_candidates
from luxxon.local.edge import relay
from luxxon.local.edge.relay import Channel, NegotiationError, Publisher, RelayMode, Subscriber
from luxxon.local.edge.webhooks import WebhookSender

log = logging.getLogger("luxxon.edge")

API_PREFIX = "/client/v4"
SDP = "application/sdp"
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, DELETE, PATCH, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Authorization, If-Match",
    "Access-Control-Expose-Headers": "Location, Link, ETag",
}


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class LiveInputRecord:
    uid: str
    whip_key: str
    whep_key: str
    meta: dict[str, Any]
    recording: dict[str, Any]
    channel: Channel
    created: str = field(default_factory=_now)
    modified: str = field(default_factory=_now)


class BadSdp(Exception):
    pass


def parse_offer(text: str) -> SessionDescription:
    """A parseable SDP offer with ICE credentials, a DTLS fingerprint and at least one video section."""
    if not text.lstrip().startswith("v=0"):
        raise BadSdp("the body is not an SDP session description")
    try:
        description = SessionDescription.parse(text)
    except Exception as error:  # aiortc's parser raises whatever the malformed line triggers
        raise BadSdp(f"unparseable SDP ({type(error).__name__})") from None
    video = [m for m in description.media if m.kind == "video"]
    if not video:
        raise BadSdp("the offer has no video section")
    ice, dtls = video[0].ice, video[0].dtls
    if ice is None or dtls is None or not ice.usernameFragment or not ice.password or not dtls.fingerprints:
        raise BadSdp("the offer lacks ICE credentials or a DTLS fingerprint")
    return description


class Edge:
    """The edge server. Build it with `start_edge(...)`; `close()` stops it."""

    def __init__(
        self,
        *,
        token: str,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        media_timeout_s: float = 5.0,
        relay_mode: RelayMode = "forward",
    ) -> None:
        self.token = token
        self.media_timeout_s = media_timeout_s
        self.relay_mode = relay_mode
        self.url = ""  # set by start(): the base URL that WHIP/WHEP/resource URLs are built on
        self._inputs: dict[str, LiveInputRecord] = {}
        self._whip: dict[str, LiveInputRecord] = {}
        self._whep: dict[str, LiveInputRecord] = {}
        self._resources: dict[str, Publisher | Subscriber] = {}
        self._webhooks = WebhookSender(webhook_url, webhook_secret or "") if webhook_url else None
        self._runner: web.AppRunner | None = None

    @property
    def api_base(self) -> str:
        """What `CloudflareStream(base_url=...)` takes (LX_CLOUDFLARE_API_BASE)."""
        return self.url + API_PREFIX

    # -- lifecycle ----------------------------------------------------------------------------------------------

    async def start(self, host: str, port: int, public_url: str | None = None) -> None:
        app = web.Application(middlewares=[self._cors])
        api = f"{API_PREFIX}/accounts/{{account}}/stream/live_inputs"
        app.add_routes(
            [
                web.post(api, self._create),
                web.get(api, self._list),
                web.get(api + "/{uid}", self._get),
                web.delete(api + "/{uid}", self._delete),
                web.post("/whip/{key}", self._whip_post),
                web.post("/whep/{key}", self._whep_post),
                web.delete("/resources/{rid}", self._resource_delete),
                web.patch("/resources/{rid}", self._resource_patch),
                web.get("/healthz", self._health),
            ]
        )
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0][1] if port == 0 else port
        self.url = (public_url or f"http://{host}:{bound}").rstrip("/")
        if self._webhooks is not None:
            self._webhooks.start()
        log.info("edge listening on %s", self.url)

    async def close(self) -> None:
        for record in list(self._inputs.values()):
            record.channel.close()
        for resource in list(self._resources.values()):
            resource.close("edge shutting down")
        self._resources.clear()
        await asyncio.gather(*list(relay.background_tasks()), return_exceptions=True)
        if self._webhooks is not None:
            await self._webhooks.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Edge:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- introspection (tests, bench) ---------------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        channels = [r.channel for r in self._inputs.values()]
        return {
            "liveInputs": len(channels),
            "publishers": sum(c.publisher is not None for c in channels),
            "connected": sum(c.status == "connected" for c in channels),
            "subscribers": sum(len(c.subscribers) for c in channels),
        }

    # -- REST ---------------------------------------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and secrets.compare_digest(credentials.strip(), self.token)

    @staticmethod
    def _envelope(result: Any = None, *, status: int = 200, errors: list[dict[str, Any]] | None = None) -> web.Response:
        body = {"result": result, "success": not errors, "errors": errors or [], "messages": []}
        return web.json_response(body, status=status)

    def _unauthorized(self) -> web.Response:
        return self._envelope(status=401, errors=[{"code": 10000, "message": "Authentication error"}])

    def _not_found(self) -> web.Response:
        return self._envelope(status=404, errors=[{"code": 10003, "message": "Not Found"}])

    @staticmethod
    def _summary(record: LiveInputRecord) -> dict[str, Any]:
        """A live input as Cloudflare lists it (`stream_live_input_object_without_url`)."""
        return {
            "uid": record.uid,
            "created": record.created,
            "modified": record.modified,
            "meta": record.meta,
            "deleteRecordingAfterDays": None,
        }

    def _describe(self, record: LiveInputRecord) -> dict[str, Any]:
        return {
            "uid": record.uid,
            "created": record.created,
            "modified": record.modified,
            "meta": record.meta,
            "status": record.channel.status,
            "recording": record.recording,
            "deleteRecordingAfterDays": None,
            "webRTC": {"url": f"{self.url}/whip/{record.whip_key}"},
            "webRTCPlayback": {"url": f"{self.url}/whep/{record.whep_key}"},
        }

    async def _create(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        raw = await request.read()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("meta", {}), dict):
            return self._envelope(status=400, errors=[{"code": 10005, "message": "Invalid request body"}])
        uid = secrets.token_hex(16)
        notify = self._webhooks.notify if self._webhooks is not None else (lambda uid, event: None)
        record = LiveInputRecord(
            uid=uid,
            whip_key=secrets.token_urlsafe(32),
            whep_key=secrets.token_urlsafe(32),
            meta=body.get("meta") or {},
            recording={"mode": "off", **(body.get("recording") or {})},
            channel=Channel(uid, notify, media_timeout_s=self.media_timeout_s, mode=self.relay_mode),
        )
        self._inputs[uid] = record
        self._whip[record.whip_key] = record
        self._whep[record.whep_key] = record
        log.info("live input %s created", uid)
        return self._envelope(self._describe(record))  # Cloudflare answers a create with 200

    async def _list(self, request: web.Request) -> web.Response:
        """Cloudflare's "List live inputs": `result: {liveInputs, range, total}`, each item without its URLs (the
        WHIP URL is a credential: only a single live input's GET returns them)."""
        if not self._authorized(request):
            return self._unauthorized()
        items = [self._summary(r) for r in self._inputs.values()]
        return self._envelope({"liveInputs": items, "range": len(items), "total": len(items)})

    async def _get(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        record = self._inputs.get(request.match_info["uid"])
        return self._envelope(self._describe(record)) if record else self._not_found()

    async def _delete(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        record = self._inputs.pop(request.match_info["uid"], None)
        if record is None:
            return self._not_found()
        self._whip.pop(record.whip_key, None)
        self._whep.pop(record.whep_key, None)
        record.channel.close()
        for rid, resource in list(self._resources.items()):
            if resource.channel is record.channel:
                del self._resources[rid]
        log.info("live input %s deleted", record.uid)
        return self._envelope(None)

    # -- WHIP / WHEP --------------------------------------------------------------------------------------------

    async def _read_offer(self, request: web.Request) -> tuple[SessionDescription, str] | web.Response:
        if request.content_type != SDP:
            return web.Response(status=415, text="Content-Type must be application/sdp", headers={"Accept-Post": SDP})
        text = await request.text()
        try:
            return parse_offer(text), text
        except BadSdp as error:
            return web.Response(status=400, text=str(error))

    async def _whip_post(self, request: web.Request) -> web.StreamResponse:
        record = self._whip.get(request.match_info["key"])
        if record is None:
            return web.Response(status=404, text="unknown WHIP endpoint")
        offer = await self._read_offer(request)
        if isinstance(offer, web.Response):
            return offer
        publisher = Publisher(record.channel)
        answer = await self._negotiate(publisher, offer)
        if isinstance(answer, web.Response):
            return answer
        if record.uid not in self._inputs:  # deleted while we negotiated
            publisher.close("live input deleted")
            return web.Response(status=404, text="unknown WHIP endpoint")
        record.channel.attach_publisher(publisher)
        log.info("live input %s: publisher negotiated (%s)", record.uid, publisher.codec)
        return self._created(publisher, answer)

    async def _whep_post(self, request: web.Request) -> web.StreamResponse:
        record = self._whep.get(request.match_info["key"])
        if record is None:
            return web.Response(status=404, text="unknown WHEP endpoint")
        offer = await self._read_offer(request)
        if isinstance(offer, web.Response):
            return offer
        subscriber = Subscriber(record.channel)
        answer = await self._negotiate(subscriber, offer)
        if isinstance(answer, web.Response):
            return answer
        if record.uid not in self._inputs:
            subscriber.close("live input deleted")
            return web.Response(status=404, text="unknown WHEP endpoint")
        record.channel.subscribers.add(subscriber)
        log.info("live input %s: subscriber negotiated (%s)", record.uid, subscriber.codec)
        return self._created(subscriber, answer)

    async def _negotiate(
        self, peer: Publisher | Subscriber, offer: tuple[SessionDescription, str]
    ) -> str | web.Response:
        try:
            return await peer.negotiate(*offer)
        except NegotiationError as error:
            failure = web.Response(status=error.status, text=str(error))
        except Exception as error:  # aiortc rejects what it cannot negotiate with assorted exception types
            log.info("offer rejected: %s: %s", type(error).__name__, error)
            failure = web.Response(status=400, text=f"the offer cannot be negotiated ({type(error).__name__})")
        peer.closed = True
        await peer.pc.close()
        return failure

    def _created(self, peer: Publisher | Subscriber, answer: str) -> web.Response:
        rid = secrets.token_urlsafe(32)
        self._resources[rid] = peer
        self._forget_when_closed(rid, peer)
        return web.Response(
            status=201,
            text=answer,
            content_type=SDP,
            headers={"Location": f"{self.url}/resources/{rid}"},
        )

    def _forget_when_closed(self, rid: str, peer: Publisher | Subscriber) -> None:
        @peer.pc.on("connectionstatechange")
        def _forget() -> None:
            if peer.pc.connectionState == "closed":
                self._resources.pop(rid, None)

    async def _resource_delete(self, request: web.Request) -> web.Response:
        peer = self._resources.pop(request.match_info["rid"], None)
        if peer is None:
            return web.Response(status=404, text="unknown resource")
        peer.close("ended by DELETE")
        return web.Response(status=200)

    async def _resource_patch(self, request: web.Request) -> web.Response:
        if request.match_info["rid"] not in self._resources:
            return web.Response(status=404, text="unknown resource")
        return web.Response(
            status=405, text="trickle ICE and ICE restarts are not supported", headers={"Allow": "DELETE"}
        )

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, **self.stats()})

    @web.middleware
    async def _cors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        webrtc = request.path.startswith(("/whip/", "/whep/", "/resources/"))
        if webrtc and request.method == "OPTIONS":
            return web.Response(status=204, headers={**CORS, "Accept-Post": SDP})
        response: web.StreamResponse = await handler(request)
        if webrtc:
            response.headers.update(CORS)
        return response


async def start_edge(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    token: str,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    public_url: str | None = None,
    media_timeout_s: float = 5.0,
    ice_addresses: tuple[str, ...] | None = None,
    relay_mode: RelayMode = "forward",
) -> Edge:
    """Start an edge on host:port (0 picks a free port); `edge.url` / `edge.api_base` say where it listens.

    ICE host candidates are pinned to `ice_addresses`, or to 127.0.0.1 when the edge listens on loopback.
    """
    if webhook_url and not webhook_secret:
        raise ValueError("a webhook URL needs a webhook secret to sign with")
    if ice_addresses is None and is_loopback_url(f"http://{host}/"):
        ice_addresses = LOOPBACK
    if ice_addresses:
        pin_host_candidates(ice_addresses)
    edge = Edge(
        token=token,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        media_timeout_s=media_timeout_s,
        relay_mode=relay_mode,
    )
    await edge.start(host, port, public_url)
    return edge
