"""The local edge's pure parts: keyframe detection, the notification body, offer validation, codec choice."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from luxxon.adapters.video import parse_notification
from luxxon.domain.ports.video import InputSignal
from luxxon.local.edge.media import is_keyframe
from luxxon.local.edge.relay import Channel, NegotiationError
from luxxon.local.edge.server import BadSdp, parse_offer
from luxxon.local.edge.webhooks import live_input_notification


@pytest.mark.parametrize(
    ("codec", "data", "expected"),
    [
        ("VP8", b"\x50\x2d\x00\x9d\x01\x2a", True),  # key frame: frame tag bit 0 clear, start code 9d 01 2a
        ("VP8", b"\x31\x02\x00", False),  # inter frame
        ("VP8", b"", False),
        ("H264", b"\x00\x00\x00\x01\x67\x42\x00\x00\x00\x01\x68\xce\x00\x00\x00\x01\x65\x88", True),  # SPS PPS IDR
        ("H264", b"\x00\x00\x01\x65\x88\x84", True),  # IDR alone, 3-byte start code
        ("H264", b"\x00\x00\x00\x01\x41\x9a\x00", False),  # non-IDR slice
        ("H264", b"\x00\x00\x00", False),
        ("AV1", b"\x00", False),
    ],
)
def test_keyframes_are_recognised(codec: str, data: bytes, expected: bool) -> None:
    assert is_keyframe(codec, data) is expected


def test_the_notification_body_is_cloudflares_live_input_shape() -> None:
    # https://developers.cloudflare.com/stream/stream-live/webhooks/ (example payload)
    at = datetime(2022, 1, 13, 11, 43, 41, 855717, tzinfo=UTC)

    body = json.loads(
        live_input_notification("eb222fcca08eeb1ae84c981ebe8aeeb6", "live_input.disconnected", at, name="n")
    )

    assert body == {
        "name": "n",
        "text": "Notification type: Stream Live Input\nInput ID: eb222fcca08eeb1ae84c981ebe8aeeb6\n"
        "Event type: live_input.disconnected\nUpdated at: 2022-01-13T11:43:41.855717000Z",
        "data": {
            "notification_name": "Stream Live Input",
            "input_id": "eb222fcca08eeb1ae84c981ebe8aeeb6",
            "event_type": "live_input.disconnected",
            "updated_at": "2022-01-13T11:43:41.855717000Z",
        },
        "ts": 1642074221,
    }


def test_the_receiver_reads_back_what_the_edge_sends() -> None:
    at = datetime(2026, 12, 3, 12, 0, 0, 123456, tzinfo=UTC)

    event = parse_notification(live_input_notification("uid-1", "live_input.connected", at, name="n"))

    assert (event.input_id, event.signal, event.at) == ("uid-1", InputSignal.CONNECTED, at)


OFFER = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 97\r\nc=IN IP4 127.0.0.1\r\na=sendonly\r\na=mid:0\r\n"
    "a=rtpmap:97 VP8/90000\r\na=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdefghijkl\r\n"
    "a=fingerprint:sha-256 " + ":".join(["AB"] * 32) + "\r\na=setup:actpass\r\n"
)


def test_a_complete_video_offer_is_accepted() -> None:
    assert [m.kind for m in parse_offer(OFFER).media] == ["video"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello",
        OFFER.replace("m=video", "m=audio").replace("VP8/90000", "opus/48000/2"),  # no video
        OFFER.replace("a=ice-ufrag:abcd\r\n", ""),  # no ICE credentials
        OFFER.replace("a=fingerprint:", "a=x-fingerprint:"),  # no DTLS fingerprint
    ],
)
def test_an_incomplete_offer_is_bad_sdp(text: str) -> None:
    with pytest.raises(BadSdp):
        parse_offer(text)


def test_an_idle_channel_serves_the_viewers_preferred_codec() -> None:
    channel = Channel("uid", lambda uid, event: None)

    assert channel.choose_codec(["H264", "VP8"]) == "H264"
    channel.last_codec = "VP8"  # the previous publisher used VP8: it will most likely come back with it
    assert channel.choose_codec(["H264", "VP8"]) == "VP8"


def test_a_viewer_without_a_supported_codec_is_refused() -> None:
    with pytest.raises(NegotiationError):
        Channel("uid", lambda uid, event: None).choose_codec(["AV1", "VP9"])
