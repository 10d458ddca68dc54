"""Decoder parts without a network: settings from LX_DECODER_* variables, loopback detection, the JPEG encoder."""

from __future__ import annotations

import fractions

import pydantic
import pytest

from decoder_container.config import DEFAULT_ICE_SERVERS, DecoderConfig
from luxxon.adapters.webrtc import is_loopback_url


def test_defaults_renew_every_two_seconds_a_six_second_lease_and_store_a_frame_a_second() -> None:
    config = DecoderConfig.from_env({})
    assert (config.renew_interval_s, config.lease_ttl_s, config.frame_interval_s) == (2.0, 6.0, 1.0)
    assert config.media_gap_s == 3.0  # no decodable frame for 3 s: the decoder's NETWORK_ERROR window opens
    assert config.ice_servers == DEFAULT_ICE_SERVERS and config.loopback == "auto"
    assert config.process_count >= 1


def test_every_field_reads_its_lx_decoder_variable() -> None:
    config = DecoderConfig.from_env(
        {
            "LX_DECODER_PROCESSES": "3",
            "LX_DECODER_MAX_SESSIONS": "12",
            "LX_DECODER_LEASE_TTL_S": "9",
            "LX_DECODER_JPEG_QUALITY": "70",
            "LX_DECODER_ICE_SERVERS": "stun:a.example:3478, turn:b.example:3478?transport=udp",
            "LX_DECODER_LOOPBACK": "on",
            "LX_DECODER_MEDIA_GAP_S": "1.5",
            "UNRELATED": "x",
        }
    )
    assert config.media_gap_s == 1.5
    assert (config.process_count, config.max_sessions, config.lease_ttl_s, config.jpeg_quality) == (3, 12, 9.0, 70)
    assert config.ice_servers == ("stun:a.example:3478", "turn:b.example:3478?transport=udp")
    assert config.loopback == "on"


def test_an_empty_ice_server_list_means_host_candidates_only() -> None:
    assert DecoderConfig.from_env({"LX_DECODER_ICE_SERVERS": ""}).ice_servers == ()


@pytest.mark.parametrize(
    "bad", [{"LX_DECODER_JPEG_QUALITY": "0"}, {"LX_DECODER_LOOPBACK": "maybe"}, {"LX_DECODER_MEDIA_GAP_S": "0"}]
)
def test_invalid_values_are_refused_at_start(bad: dict[str, str]) -> None:
    with pytest.raises(pydantic.ValidationError):
        DecoderConfig.from_env(bad)


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8787/whep/x", True),
        ("http://localhost/whep/x", True),
        ("http://[::1]:80/whep/x", True),
        ("https://customer-abc.cloudflarestream.com/x/webRTC/play", False),
        ("http://10.0.0.4/whep/x", False),
    ],
)
def test_a_whep_url_on_loopback_is_recognised(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback


def test_one_jpeg_encoder_serves_frames_of_any_session_size_and_timestamp() -> None:
    import io

    from PIL import Image

    from decoder_container.session import JpegEncoder
    from luxxon.local.camera import SyntheticCamera

    encoder = JpegEncoder(quality=90)
    for width, height, pts in [(320, 240, 900), (320, 240, 3), (640, 360, 3), (320, 240, 3)]:
        frame = SyntheticCamera(width, height)._draw(pts)
        frame.pts, frame.time_base = pts, fractions.Fraction(1, 90_000)  # as decoded from RTP
        with Image.open(io.BytesIO(encoder.encode(frame))) as image:
            assert (image.format, image.size) == ("JPEG", (width, height))
