"""The video backend adapter's pure parts: settings, credentials, the live-input shape, webhook signatures."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator

import pytest

from luxxon.adapters import video
from luxxon.adapters.video import CloudflareStream, sign_webhook, verify_webhook_signature
from luxxon.config import get_settings
from luxxon.domain.ports import LiveInput, VideoBackend, VideoBackendError

SECRET = "85011ed3a913c6ad5f9cf6c5573cc0a7"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in ("SECRET_ARN", "ACCOUNT_ID", "API_TOKEN", "API_BASE", "TIMEOUT_S"):
        monkeypatch.delenv(f"LX_CLOUDFLARE_{name}", raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_cloudflare_stream_is_a_video_backend() -> None:
    assert isinstance(CloudflareStream("account", "token"), VideoBackend)


def test_settings_come_from_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("LX_CLOUDFLARE_ACCOUNT_ID", "acc-1")
    clean_env.setenv("LX_CLOUDFLARE_API_TOKEN", "tok-1")
    clean_env.setenv("LX_CLOUDFLARE_API_BASE", "http://127.0.0.1:8787/client/v4")

    client = CloudflareStream.from_settings()

    assert repr(client) == "CloudflareStream('http://127.0.0.1:8787/client/v4/accounts/acc-1/stream/live_inputs')"
    assert "tok-1" not in repr(client) and "tok-1" not in repr(get_settings())


def test_missing_credentials_are_a_video_backend_error(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(VideoBackendError, match="required"):
        CloudflareStream.from_settings()


def test_credentials_come_from_secrets_manager_when_an_arn_is_set(clean_env: pytest.MonkeyPatch) -> None:
    from moto import mock_aws

    clean_env.setenv("AWS_DEFAULT_REGION", "us-east-1")
    clean_env.setenv("AWS_ACCESS_KEY_ID", "testing")
    clean_env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        import boto3

        secret = {"account_id": "acc-from-secret", "api_token": "tok-from-secret", "api_base": "http://edge/client/v4"}
        arn = boto3.client("secretsmanager").create_secret(
            Name=f"luxxon/cloudflare-{uuid.uuid4().hex}", SecretString=json.dumps(secret)
        )["ARN"]
        clean_env.setenv("LX_CLOUDFLARE_SECRET_ARN", arn)
        clean_env.setenv("LX_CLOUDFLARE_ACCOUNT_ID", "ignored-when-the-secret-is-used")

        client = CloudflareStream.from_settings()

    assert repr(client) == "CloudflareStream('http://edge/client/v4/accounts/acc-from-secret/stream/live_inputs')"


def test_a_live_input_hides_its_urls_from_repr() -> None:
    live_input = LiveInput("uid-1", "https://edge/whip/secret-a", "https://edge/whep/secret-b", status=None)

    assert "secret-a" not in repr(live_input) and "secret-b" not in repr(live_input)


@pytest.mark.parametrize(
    ("status", "expected"),
    [(None, None), ("connected", "connected"), ({"current": {"state": "connected"}}, "connected"), (3, None)],
)
def test_a_live_input_reads_cloudflares_result(status: object, expected: str | None) -> None:
    envelope = {
        "result": {"uid": "u1", "webRTC": {"url": "https://w/i"}, "webRTCPlayback": {"url": "https://w/p"}},
        "success": True,
    }
    envelope["result"]["status"] = status  # type: ignore[index]

    assert video._live_input(envelope) == LiveInput("u1", "https://w/i", "https://w/p", status=expected)


@pytest.mark.parametrize(
    "result", [None, {}, {"uid": "u1"}, {"uid": "u1", "webRTC": "x", "webRTCPlayback": {"url": "y"}}]
)
def test_a_malformed_live_input_is_a_video_backend_error(result: object) -> None:
    with pytest.raises(VideoBackendError, match="malformed"):
        video._live_input({"result": result, "success": True})


@pytest.mark.parametrize(("status", "retryable"), [(None, True), (429, True), (503, True), (400, False), (404, False)])
def test_which_errors_are_worth_retrying(status: int | None, retryable: bool) -> None:
    assert VideoBackendError("x", status=status).retryable is retryable


def test_a_webhook_signature_is_cloudflares_hmac_of_time_dot_body() -> None:
    body = b'{"data":{"event_type":"live_input.connected"}}'

    header = sign_webhook(body, SECRET, 1230811200)

    digest = hmac.new(SECRET.encode(), b"1230811200." + body, hashlib.sha256).hexdigest()
    assert header == f"time=1230811200,sig1={digest}"


def test_a_valid_signature_verifies() -> None:
    body = b'{"x":1}'
    now = time.time()

    assert verify_webhook_signature(sign_webhook(body, SECRET, int(now)), body, SECRET, now=now)


@pytest.mark.parametrize(
    ("header", "body", "secret", "age_s"),
    [
        (None, b'{"x":1}', SECRET, 0),  # missing
        ("garbage", b'{"x":1}', SECRET, 0),  # malformed
        ("SIGNED", b'{"x":2}', SECRET, 0),  # tampered body
        ("SIGNED", b'{"x":1}', "another-secret", 0),  # wrong secret
        ("SIGNED", b'{"x":1}', SECRET, 301),  # stale
        ("SIGNED", b'{"x":1}', SECRET, -301),  # from the future
    ],
)
def test_a_bad_signature_does_not_verify(header: str | None, body: bytes, secret: str, age_s: int) -> None:
    now = time.time()
    if header == "SIGNED":
        header = sign_webhook(b'{"x":1}', SECRET, int(now) - age_s)

    assert not verify_webhook_signature(header, body, secret, now=now)
