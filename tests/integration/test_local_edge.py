"""The local video edge over real WebRTC on 127.0.0.1, and the Cloudflare Stream client against it.

Every peer is a real aiortc peer connection: the synthetic camera publishes over WHIP, viewers subscribe over
WHEP, and the edge forwards the encoded media between them. No database is involved.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from aiohttp import ClientSession, web
from av import VideoFrame

from luxxon.adapters.video import CloudflareStream, parse_notification
from luxxon.adapters.webrtc import SignalingError
from luxxon.domain.ports.video import InputSignal, LiveInput, VideoBackendError
from luxxon.local.camera import Codec, Publication, publish
from luxxon.local.edge import Edge, start_edge
from luxxon.local.edge.client import Subscription, end_session, subscribe
from luxxon.local.edge.relay import Channel

TOKEN = "edge-test-token"
WEBHOOK_SECRET = "whsec-test"
T = TypeVar("T")
# Generous bounds for what must happen "soon": they only matter when something is broken, and a loaded two-core CI
# machine (an encoder, a relay and a decoder per test) needs room. Nothing here asserts how fast it is.
SOON_S = 20.0


def run(scenario: Callable[[], Awaitable[T]], timeout_s: float = 90.0) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(scenario(), timeout_s)

    return asyncio.run(bounded())


@dataclass
class Hooks:
    """A tiny webhook receiver: every POST's raw body and `cf-webhook-auth` header, in arrival order. It answers
    503 to the first `fail_first` POSTs (the sender must then deliver the same notification again)."""

    url: str = ""
    fail_first: int = 0
    received: asyncio.Queue[tuple[bytes, str | None]] = field(default_factory=asyncio.Queue)

    async def next(self, timeout_s: float = SOON_S) -> tuple[dict[str, Any], bytes, str | None]:
        body, secret = await asyncio.wait_for(self.received.get(), timeout_s)
        return json.loads(body), body, secret


@contextlib.asynccontextmanager
async def webhook_receiver(fail_first: int = 0) -> AsyncIterator[Hooks]:
    hooks = Hooks(fail_first=fail_first)

    async def receive(request: web.Request) -> web.Response:
        hooks.received.put_nowait((await request.read(), request.headers.get("cf-webhook-auth")))
        if hooks.fail_first > 0:
            hooks.fail_first -= 1
            return web.Response(status=503)
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hooks/stream", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    hooks.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hooks/stream"
    try:
        yield hooks
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def running_edge(**options: Any) -> AsyncIterator[tuple[Edge, CloudflareStream]]:
    edge = await start_edge(token=TOKEN, **options)
    try:
        yield edge, CloudflareStream("any-account", TOKEN, base_url=edge.api_base)
    finally:
        await edge.close()


async def camera(whip_url: str, codec: Codec = "VP8") -> Publication:
    """A small synthetic camera (320x240 at 30 fps): cheap to encode and decode, plenty for relay behaviour."""
    return await publish(whip_url, width=320, height=240, codec=codec)


async def create(client: CloudflareStream) -> LiveInput:
    return await asyncio.to_thread(client.create_live_input, f"session-{uuid.uuid4()}")


async def frames(subscription: Subscription, count: int, timeout_s: float = SOON_S) -> list[VideoFrame]:
    """The next `count` decoded frames (each must arrive within `timeout_s`)."""
    received = []
    for _ in range(count):
        frame = await asyncio.wait_for(subscription.track.recv(), timeout_s)
        assert isinstance(frame, VideoFrame)
        received.append(frame)
    return received


async def drain(subscription: Subscription, quiet_s: float) -> int:
    """Read frames until none arrives for `quiet_s`; how many were read."""
    count = 0
    with contextlib.suppress(TimeoutError):
        while True:
            await asyncio.wait_for(subscription.track.recv(), quiet_s)
            count += 1
    return count


async def until(predicate: Callable[[], bool], timeout_s: float = SOON_S) -> None:
    """Wait for a condition (polled), up to a generous deadline."""

    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), timeout_s)


async def post(url: str, body: str, content_type: str) -> tuple[int, str]:
    async with ClientSession() as http, http.post(url, data=body, headers={"Content-Type": content_type}) as response:
        return response.status, await response.text()


@pytest.fixture
def decode_errors(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    """Warnings from aiortc's receivers (e.g. "failed to decode") seen during the test."""
    caplog.set_level(logging.WARNING, logger="aiortc")
    return lambda: [r.getMessage() for r in caplog.records if r.name.startswith("aiortc")]


# -- The Cloudflare Stream client against the edge -------------------------------------------------------------


def test_the_client_creates_gets_and_deletes_a_live_input() -> None:
    async def scenario() -> None:
        async with running_edge() as (edge, client):
            created = await create(client)
            assert created.whip_url.startswith(f"{edge.url}/whip/")
            assert created.whep_url.startswith(f"{edge.url}/whep/")
            assert created.whip_url not in repr(created) and created.whep_url not in repr(created)

            fetched = await asyncio.to_thread(client.get_live_input, created.uid)
            assert fetched == LiveInput(created.uid, created.whip_url, created.whep_url, status=None)

            await asyncio.to_thread(client.delete_live_input, created.uid)
            assert await asyncio.to_thread(client.get_live_input, created.uid) is None

    run(scenario)


def test_the_list_is_cloudflares_shape_and_carries_no_credentials() -> None:
    # "List live inputs": result {liveInputs: [stream_live_input_object_without_url], range, total}
    async def scenario() -> tuple[int, dict[str, Any], str, list[LiveInput], int]:
        async with running_edge() as (edge, client):
            created = [await create(client), await create(client)]
            url = f"{edge.api_base}/accounts/any-account/stream/live_inputs"
            async with ClientSession() as http:
                async with http.get(url, headers={"Authorization": f"Bearer {TOKEN}"}) as response:
                    status, text = response.status, await response.text()
                async with http.get(url, headers={"Authorization": "Bearer wrong"}) as response:
                    refused = response.status
            return status, json.loads(text), text, created, refused

    status, envelope, text, created, refused = run(scenario)

    assert (status, envelope["success"], refused) == (200, True, 401)
    result = envelope["result"]
    assert result.keys() == {"liveInputs", "range", "total"}
    assert (result["total"], result["range"]) == (2, 2)
    assert {item["uid"] for item in result["liveInputs"]} == {c.uid for c in created}
    for item in result["liveInputs"]:
        assert item.keys() == {"uid", "created", "modified", "meta", "deleteRecordingAfterDays"}
        assert item["meta"]["name"].startswith("session-")
    for live_input in created:  # neither the WHIP credential nor the WHEP URL leaks through the list
        assert live_input.whip_url not in text and live_input.whep_url not in text
    assert "webRTC" not in text


def test_live_input_urls_are_unguessable_and_distinct() -> None:
    async def scenario() -> None:
        async with running_edge() as (_, client):
            first, second = await create(client), await create(client)
            secrets_in_urls = {u.rsplit("/", 1)[1] for u in (first.whip_url, first.whep_url, second.whip_url)}
            assert len(secrets_in_urls) == 3
            assert all(len(s) >= 40 for s in secrets_in_urls)  # token_urlsafe(32): 256 bits
            assert first.uid not in first.whip_url and first.uid not in first.whep_url

    run(scenario)


def test_deleting_a_missing_live_input_is_not_an_error() -> None:
    async def scenario() -> None:
        async with running_edge() as (_, client):
            created = await create(client)
            await asyncio.to_thread(client.delete_live_input, created.uid)
            await asyncio.to_thread(client.delete_live_input, created.uid)
            await asyncio.to_thread(client.delete_live_input, "0" * 32)

    run(scenario)


def test_an_error_envelope_becomes_a_video_backend_error() -> None:
    async def scenario() -> VideoBackendError:
        async with running_edge() as (edge, _):
            intruder = CloudflareStream("any-account", "wrong-token", base_url=edge.api_base)
            with pytest.raises(VideoBackendError) as raised:
                await asyncio.to_thread(intruder.create_live_input, "session")
            return raised.value

    error = run(scenario)
    assert error.status == 401
    assert error.codes == (10000,)
    assert "Authentication error" in str(error)
    assert not error.retryable


def test_an_unreachable_backend_raises_a_retryable_error() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = CloudflareStream("any-account", TOKEN, base_url=f"http://127.0.0.1:{port}/client/v4", retries=0)

    with pytest.raises(VideoBackendError) as raised:
        client.get_live_input("abc")

    assert raised.value.status is None
    assert raised.value.retryable


# -- WHIP in, WHEP out ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["VP8", "H264"])
def test_a_subscriber_receives_the_published_video_at_its_size(
    codec: Codec, decode_errors: Callable[[], list[str]]
) -> None:
    async def scenario() -> tuple[list[VideoFrame], LiveInput | None]:
        async with running_edge() as (_, client):
            live_input = await create(client)
            publication = await publish(live_input.whip_url, width=640, height=480, codec=codec)
            viewer = await subscribe(live_input.whep_url)
            received = await frames(viewer, 20)
            status = await asyncio.to_thread(client.get_live_input, live_input.uid)
            await viewer.close()
            await publication.close()
            return received, status

    received, status = run(scenario)

    assert {(f.width, f.height) for f in received} == {(640, 480)}
    assert bytes(received[0].planes[0]) != bytes(received[-1].planes[0])  # the picture moves
    pts = [f.pts or 0 for f in received]
    assert pts == sorted(pts)
    assert status is not None and status.status == "connected"
    assert decode_errors() == []


def test_two_subscribers_receive_and_a_late_one_starts_at_a_keyframe(decode_errors: Callable[[], list[str]]) -> None:
    async def scenario() -> None:
        async with running_edge() as (edge, client):
            live_input = await create(client)
            publication = await camera(live_input.whip_url)
            early = await subscribe(live_input.whep_url)
            await frames(early, 15)
            # The camera's encoder makes a keyframe only when asked (GOP 3000): the late viewer decodes cleanly
            # only if the edge holds its frames back until a keyframe and asks the publisher for one.
            late = await subscribe(live_input.whep_url)
            both = await asyncio.gather(frames(early, 15), frames(late, 15))
            assert all(len(got) == 15 for got in both)
            assert edge.stats()["subscribers"] == 2
            for viewer in (early, late):
                await viewer.close()
            await publication.close()

    run(scenario)
    assert decode_errors() == []


def test_subscribers_get_encoded_frames_without_the_edge_decoding_them() -> None:
    async def scenario() -> tuple[int, int, int]:
        async with running_edge() as (_, client):
            live_input = await create(client)
            publication = await camera(live_input.whip_url)
            viewers = [await subscribe(live_input.whep_url, decode=False) for _ in range(3)]
            await until(lambda: all(v.encoded_frames >= 25 for v in viewers))
            counts = [v.encoded_frames for v in viewers]
            keyframes = min(v.keyframes for v in viewers)
            for viewer in viewers:
                await viewer.close()
            sent = publication.frames_sent
            await publication.close()
            return min(counts), keyframes, sent

    fewest, keyframes, sent = run(scenario)

    assert fewest >= 25  # each viewer starts at its first keyframe, then gets every frame
    assert keyframes >= 1
    assert fewest <= sent


def test_whip_and_whep_reject_a_wrong_content_type_with_415() -> None:
    async def scenario() -> list[int]:
        async with running_edge() as (_, client):
            live_input = await create(client)
            return [
                (await post(live_input.whip_url, "v=0\r\n", "application/json"))[0],
                (await post(live_input.whep_url, "v=0\r\n", "text/plain"))[0],
            ]

    assert run(scenario) == [415, 415]


def test_whip_and_whep_reject_bad_sdp_with_400() -> None:
    async def scenario() -> list[int]:
        async with running_edge() as (_, client):
            live_input = await create(client)
            audio_only = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
            statuses = [
                (await post(live_input.whip_url, "this is not sdp", "application/sdp"))[0],
                (await post(live_input.whip_url, audio_only, "application/sdp"))[0],
                (await post(live_input.whep_url, "v=0\r\nm=video x\r\n", "application/sdp"))[0],
            ]
            # A viewer's offer (receive-only) is not a publisher's: WHIP refuses it.
            viewer_offer = await _viewer_offer()
            statuses.append((await post(live_input.whip_url, viewer_offer, "application/sdp"))[0])
            return statuses

    assert run(scenario) == [400, 400, 400, 400]


async def _viewer_offer() -> str:
    from aiortc import RTCPeerConnection

    from luxxon.adapters.webrtc import LOOPBACK, pin_host_candidates, rtc_configuration

    pin_host_candidates(LOOPBACK)
    pc = RTCPeerConnection(rtc_configuration())
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    offer = pc.localDescription.sdp
    await pc.close()
    return offer


def test_unknown_and_deleted_webrtc_urls_are_404() -> None:
    async def scenario() -> list[int]:
        async with running_edge() as (edge, client):
            live_input = await create(client)
            await asyncio.to_thread(client.delete_live_input, live_input.uid)
            offer = await _viewer_offer()
            return [
                (await post(f"{edge.url}/whip/not-a-key", offer, "application/sdp"))[0],
                (await post(live_input.whip_url, offer, "application/sdp"))[0],
                (await post(live_input.whep_url, offer, "application/sdp"))[0],
                await end_session(f"{edge.url}/resources/not-a-resource"),
            ]

    assert run(scenario) == [404, 404, 404, 404]


def test_delete_on_the_whip_location_tears_the_publisher_down() -> None:
    async def scenario() -> None:
        async with running_edge() as (edge, client):
            live_input = await create(client)
            publication = await camera(live_input.whip_url)
            viewer = await subscribe(live_input.whep_url)
            await frames(viewer, 5)

            assert await end_session(publication.resource_url) == 200

            await until(lambda: edge.stats()["publishers"] == 0)
            fetched = await asyncio.to_thread(client.get_live_input, live_input.uid)
            assert fetched is not None and fetched.status is None
            await drain(viewer, quiet_s=0.5)
            with pytest.raises(TimeoutError):  # nothing flows any more
                await asyncio.wait_for(viewer.track.recv(), 1.0)
            assert await end_session(publication.resource_url) == 404
            await viewer.close()
            await publication.pc.close()

    run(scenario)


def test_delete_on_the_whep_location_ends_that_subscription() -> None:
    async def scenario() -> None:
        async with running_edge() as (edge, client):
            live_input = await create(client)
            publication = await camera(live_input.whip_url)
            viewer = await subscribe(live_input.whep_url)
            await frames(viewer, 3)

            assert await end_session(viewer.resource_url) == 200

            await until(lambda: edge.stats()["subscribers"] == 0)
            await until(lambda: viewer.pc.connectionState == "closed")
            await viewer.pc.close()
            await publication.close()

    run(scenario)


def test_a_subscriber_after_the_publisher_left_gets_the_next_publishers_frames() -> None:
    async def scenario() -> None:
        async with running_edge() as (edge, client):
            live_input = await create(client)
            first = await camera(live_input.whip_url)
            await until(lambda: edge.stats()["connected"] == 1)
            await first.close()
            await until(lambda: edge.stats()["publishers"] == 0)

            viewer = await subscribe(live_input.whep_url)  # nobody publishes: the edge must not hand a dead source
            second = await camera(live_input.whip_url)
            received = await frames(viewer, 10)
            assert len(received) == 10 and second.frames_sent > 0
            await viewer.close()
            await second.close()

    run(scenario)


def test_a_connected_subscriber_continues_when_the_publisher_reconnects(
    decode_errors: Callable[[], list[str]],
) -> None:
    async def scenario() -> list[VideoFrame]:
        async with running_edge() as (edge, client):
            live_input = await create(client)
            viewer = await subscribe(live_input.whep_url)  # waits before anyone publishes
            first = await camera(live_input.whip_url)
            before = await frames(viewer, 10)
            await first.close()
            await until(lambda: edge.stats()["publishers"] == 0)
            await drain(viewer, quiet_s=0.3)

            second = await camera(live_input.whip_url)
            after = await frames(viewer, 10)
            await viewer.close()
            await second.close()
            return before + after

    received = run(scenario)

    assert len(received) == 20
    pts = [f.pts or 0 for f in received]
    assert pts == sorted(pts) and len(set(pts)) == len(pts)  # one continuous timeline across publishers
    assert decode_errors() == []


def test_a_whep_offer_without_the_live_codec_is_refused() -> None:
    async def scenario() -> int:
        async with running_edge() as (_, client):
            live_input = await create(client)
            publication = await camera(live_input.whip_url, codec="VP8")
            with pytest.raises(SignalingError) as raised:
                await subscribe(live_input.whep_url, codecs=["H264"])
            await publication.close()
            return raised.value.status

    assert run(scenario) == 400


def test_a_viewers_keyframe_request_reaches_the_publisher() -> None:
    async def scenario() -> None:
        async with running_edge() as (edge, client):
            live_input = await create(client)
            publication = await camera(live_input.whip_url)
            viewer = await subscribe(live_input.whep_url, decode=False)
            await until(lambda: viewer.keyframes >= 1 and viewer.encoded_frames > 20)
            keyframes = viewer.keyframes
            channel: Channel = edge._inputs[live_input.uid].channel
            await until(lambda: time.monotonic() >= channel.next_keyframe_request_at)  # past the edge's throttle
            assert viewer.keyframes == keyframes  # the camera makes keyframes only on request

            receiver = viewer.transceiver.receiver  # what a browser does when its decoder loses the picture
            for source in receiver.getSynchronizationSources():
                await receiver._send_rtcp_pli(source.source)

            await until(lambda: viewer.keyframes > keyframes)
            await viewer.close()
            await publication.close()

    run(scenario)


def test_a_new_publisher_takes_over_and_connected_viewers_follow() -> None:
    async def scenario() -> None:
        async with running_edge() as (edge, client):
            live_input = await create(client)
            first = await camera(live_input.whip_url)
            viewer = await subscribe(live_input.whep_url, decode=False)
            await until(lambda: viewer.encoded_frames >= 5)
            keyframes = viewer.keyframes

            second = await camera(live_input.whip_url)  # e.g. the phone reconnects before the old session timed out

            await until(lambda: first.pc.connectionState == "closed")
            seen = viewer.encoded_frames
            await until(lambda: viewer.encoded_frames >= seen + 10)
            assert viewer.keyframes > keyframes  # it restarted at the new publisher's keyframe
            assert edge.stats()["publishers"] == 1
            await viewer.close()
            await second.close()
            await first.pc.close()

    run(scenario)


def test_a_waiting_viewer_of_another_codec_is_closed_when_a_publisher_connects() -> None:
    async def scenario() -> None:
        async with running_edge() as (edge, client):
            live_input = await create(client)
            viewer = await subscribe(live_input.whep_url, codecs=["H264"])
            publication = await camera(live_input.whip_url, codec="VP8")

            await until(lambda: viewer.pc.connectionState == "closed")  # it must subscribe again, for VP8
            assert edge.stats()["subscribers"] == 0
            again = await subscribe(live_input.whep_url)
            assert len(await frames(again, 5)) == 5
            await again.close()
            await viewer.pc.close()
            await publication.close()

    run(scenario)


# -- Webhooks --------------------------------------------------------------------------------------------------


def test_webhooks_announce_connect_and_disconnect_as_cloudflare_notifications() -> None:
    # https://developers.cloudflare.com/stream/stream-live/webhooks/: the destination's secret in cf-webhook-auth
    async def scenario() -> tuple[str, list[tuple[dict[str, Any], bytes, str | None]]]:
        async with (
            webhook_receiver() as hooks,
            running_edge(webhook_url=hooks.url, webhook_secret=WEBHOOK_SECRET) as (_, client),
        ):
            live_input = await create(client)
            publication = await camera(live_input.whip_url)
            connected = await hooks.next()
            await publication.close()
            disconnected = await hooks.next()
            return live_input.uid, [connected, disconnected]

    uid, (connected, disconnected) = run(scenario)

    for (payload, body, secret), event in (
        (connected, "live_input.connected"),
        (disconnected, "live_input.disconnected"),
    ):
        assert secret == WEBHOOK_SECRET
        assert payload.keys() == {"name", "text", "data", "ts"}
        assert payload["data"].keys() == {"notification_name", "input_id", "event_type", "updated_at"}
        assert (payload["data"]["input_id"], payload["data"]["event_type"]) == (uid, event)
        assert payload["data"]["notification_name"] == "Stream Live Input"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", payload["data"]["updated_at"])
        assert payload["text"].endswith(f"Event type: {event}\nUpdated at: {payload['data']['updated_at']}")
        assert isinstance(payload["ts"], int)
        assert parse_notification(body).signal is (
            InputSignal.CONNECTED if event == "live_input.connected" else InputSignal.DISCONNECTED
        )
    assert parse_notification(connected[1]).at < parse_notification(disconnected[1]).at


def test_a_failed_delivery_is_retried_with_the_very_same_notification() -> None:
    async def scenario() -> list[bytes]:
        async with (
            webhook_receiver(fail_first=1) as hooks,
            running_edge(webhook_url=hooks.url, webhook_secret=WEBHOOK_SECRET) as (_, client),
        ):
            live_input = await create(client)
            publication = await camera(live_input.whip_url)
            first, retry = await hooks.next(), await hooks.next()
            await publication.close()
            return [first[1], retry[1]]

    first, retry = run(scenario)

    assert first == retry  # a redelivery: the receiver recognises it by its content
    assert parse_notification(first).key == parse_notification(retry).key


def test_a_publisher_whose_media_stops_is_disconnected_after_the_media_timeout() -> None:
    async def scenario() -> tuple[list[str], str | None]:
        async with (
            webhook_receiver() as hooks,
            running_edge(webhook_url=hooks.url, webhook_secret=WEBHOOK_SECRET, media_timeout_s=1.0) as (_, client),
        ):
            live_input = await create(client)
            publication = await camera(live_input.whip_url)
            events = [(await hooks.next())[0]["data"]["event_type"]]
            publication.camera.stop()  # the camera freezes; the peer connection stays up (no BYE, no DELETE)
            events.append((await hooks.next())[0]["data"]["event_type"])
            fetched = await asyncio.to_thread(client.get_live_input, live_input.uid)
            await publication.close()
            return events, fetched.status if fetched else "missing"

    events, status = run(scenario)

    assert events == ["live_input.connected", "live_input.disconnected"]
    assert status is None


def test_deleting_a_live_input_disconnects_its_publisher() -> None:
    async def scenario() -> list[str]:
        async with (
            webhook_receiver() as hooks,
            running_edge(webhook_url=hooks.url, webhook_secret=WEBHOOK_SECRET) as (edge, client),
        ):
            live_input = await create(client)
            publication = await camera(live_input.whip_url)
            events = [(await hooks.next())[0]["data"]["event_type"]]
            await asyncio.to_thread(client.delete_live_input, live_input.uid)
            events.append((await hooks.next())[0]["data"]["event_type"])
            await until(lambda: publication.pc.connectionState == "closed")
            assert edge.stats() == {"liveInputs": 0, "publishers": 0, "connected": 0, "subscribers": 0}
            await publication.pc.close()
            return events

    assert run(scenario) == ["live_input.connected", "live_input.disconnected"]
