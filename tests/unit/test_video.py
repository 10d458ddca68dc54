"""The video backend adapter's pure parts: settings, credentials, the live-input shape, Cloudflare's webhooks."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from luxxon.adapters import video
from luxxon.adapters.video import CloudflareStream, CloudflareWebhooks, authentic, parse_notification
from luxxon.config import get_settings
from luxxon.domain.ports.video import InputSignal, LiveInput, VideoBackend, VideoBackendError, WebhookRejected

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


# -- Cloudflare Notifications webhooks (Stream Live) ---------------------------------------------------------------
# The documented example: https://developers.cloudflare.com/stream/stream-live/webhooks/
EXAMPLE = {
    "name": "Live Webhook Test",
    "text": "Notification type: Stream Live Input\nInput ID: eb222fcca08eeb1ae84c981ebe8aeeb6\n"
    "Event type: live_input.disconnected\nUpdated at: 2022-01-13T11:43:41.855717910Z",
    "data": {
        "notification_name": "Stream Live Input",
        "input_id": "eb222fcca08eeb1ae84c981ebe8aeeb6",
        "event_type": "live_input.disconnected",
        "updated_at": "2022-01-13T11:43:41.855717910Z",
    },
    "ts": 1642074233,
}


def body(**changes: object) -> bytes:
    payload = json.loads(json.dumps(EXAMPLE))
    payload["data"].update({k: v for k, v in changes.items() if k != "ts"})
    if "ts" in changes:
        payload["ts"] = changes["ts"]
    return json.dumps(payload).encode()


def test_cloudflares_example_notification_is_a_disconnect_of_its_input_at_its_update_time() -> None:
    event = parse_notification(json.dumps(EXAMPLE).encode())

    assert (event.event_type, event.input_id, event.signal) == (
        "live_input.disconnected",
        "eb222fcca08eeb1ae84c981ebe8aeeb6",
        InputSignal.DISCONNECTED,
    )
    assert event.at == datetime(2022, 1, 13, 11, 43, 41, 855717, tzinfo=UTC)  # nanoseconds kept to the microsecond


@pytest.mark.parametrize(
    ("event_type", "signal"),
    [
        ("live_input.connected", InputSignal.CONNECTED),
        ("live_input.disconnected", InputSignal.DISCONNECTED),
        ("live_input.errored", InputSignal.ERRORED),
        ("live_input.something_new", None),
    ],
)
def test_each_live_input_event_type_is_a_signal(event_type: str, signal: InputSignal | None) -> None:
    assert parse_notification(body(event_type=event_type)).signal is signal


def test_a_redelivery_has_the_same_key_however_its_json_is_laid_out() -> None:
    first = parse_notification(json.dumps(EXAMPLE).encode())
    relaid = parse_notification(json.dumps(EXAMPLE, indent=2, sort_keys=True).encode())

    assert first.key == relaid.key and len(first.key) == 32


@pytest.mark.parametrize(
    "change",
    [
        {"updated_at": "2022-01-13T11:43:41.855717911Z"},  # another event, a nanosecond later
        {"event_type": "live_input.connected"},
        {"input_id": "another-input"},
        {"ts": 1642074234},
        {"ts": None},
    ],
)
def test_another_event_has_another_key(change: dict[str, object]) -> None:
    assert parse_notification(body(**change)).key != parse_notification(json.dumps(EXAMPLE).encode()).key


def test_a_notification_without_an_event_type_is_about_no_live_input() -> None:
    event = parse_notification(b'{"name": "Test", "text": "Hello", "data": {}, "ts": 1}')

    assert (event.event_type, event.input_id, event.signal, event.at) == ("", None, None, None)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\xff\xfe",
        b"null",
        b'{"data": []}',
        body(updated_at="2022-01-13 11:43:41"),
        body(updated_at=1642074221),
        body(input_id=7),
        body(ts=True),
        b"[" * 100_000,
    ],
)
def test_a_malformed_notification_is_rejected_as_bad_data(raw: bytes) -> None:
    with pytest.raises(WebhookRejected) as rejected:
        parse_notification(raw)

    assert rejected.value.malformed_field == "data"


@pytest.mark.parametrize(
    ("presented", "authentic_"),
    [
        (SECRET, True),
        (SECRET + " ", False),
        (SECRET[:-1], False),
        ("", False),
        (None, False),
        ("ünïcode", False),
        ("\ud800", False),  # a lone surrogate (what a broken client may send)
    ],
)
def test_only_the_exact_secret_is_authentic(presented: str | None, authentic_: bool) -> None:
    assert authentic(presented, SECRET) is authentic_


def test_no_secret_configured_authenticates_nothing() -> None:
    assert not authentic("", "")


def test_the_secret_is_checked_before_the_body_is_read() -> None:
    webhooks = CloudflareWebhooks(lambda: SECRET)

    with pytest.raises(WebhookRejected) as rejected:
        webhooks.verify({"cf-webhook-auth": "wrong"}, b"not json")

    assert (rejected.value.reason, rejected.value.malformed_field) == ("badSecret", None)
    assert webhooks.verify({"CF-WEBHOOK-AUTH": SECRET}, json.dumps(EXAMPLE).encode()).signal is InputSignal.DISCONNECTED
