"""The video backend: one live input per session, a WHIP URL to publish and a WHEP URL to watch.

`CloudflareStream` implements the domain's `ports.video.VideoBackend` against Cloudflare Stream's live-inputs REST API;
pointed at the local edge (`luxxon.local.edge`), which speaks the same subset, it is the same class in both places
and only the base URL and credentials change. `CloudflareWebhooks` implements `ports.video.EdgeWebhooks` (Stream Live's
events as Cloudflare Notifications webhooks).

The WHIP URL (`result.webRTC.url`) is the publisher's credential and the WHEP URL (`result.webRTCPlayback.url`)
is a session-scoped secret: neither is ever logged nor shown in a `repr`.

Standard library only (urllib), so importing this module costs nothing at cold start; Powertools parameters
(and through it boto3) are imported only when the credentials come from Secrets Manager.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from luxxon import bounded_json
from luxxon.domain.ports.video import (
    EdgeEvent,
    InputSignal,
    LiveInput,
    LiveInputSummary,
    VideoBackendError,
    WebhookRejected,
)

if TYPE_CHECKING:
    from luxxon.config import Settings


DEFAULT_API_BASE = "https://api.cloudflare.com/client/v4"
WEBHOOK_AUTH_HEADER = "cf-webhook-auth"  # Cloudflare Notifications: the webhook destination's secret
LIVE_INPUT_CONNECTED = "live_input.connected"
LIVE_INPUT_DISCONNECTED = "live_input.disconnected"
LIVE_INPUT_ERRORED = "live_input.errored"
LIVE_INPUT_SIGNALS = {
    LIVE_INPUT_CONNECTED: InputSignal.CONNECTED,
    LIVE_INPUT_DISCONNECTED: InputSignal.DISCONNECTED,
    LIVE_INPUT_ERRORED: InputSignal.ERRORED,
}
_RETRYABLE_METHODS = frozenset({"GET", "DELETE"})


class CloudflareStream:
    """Cloudflare Stream live inputs over REST (`{base}/accounts/{account_id}/stream/live_inputs[/{uid}]`)."""

    def __init__(
        self,
        account_id: str,
        api_token: str,
        *,
        base_url: str = DEFAULT_API_BASE,
        timeout_s: float = 10.0,
        retries: int = 2,
    ) -> None:
        if not account_id or not api_token:
            raise VideoBackendError("Cloudflare account id and API token are required")
        account = urllib.parse.quote(account_id, safe="")
        self._collection = f"{base_url.rstrip('/')}/accounts/{account}/stream/live_inputs"
        self._token = api_token
        self._timeout_s = timeout_s
        self._retries = retries

    def __repr__(self) -> str:
        return f"CloudflareStream({self._collection!r})"

    @classmethod
    def from_settings(
        cls, settings: Settings | None = None, *, timeout_s: float | None = None, retries: int | None = None
    ) -> CloudflareStream:
        """Build from LX_CLOUDFLARE_* settings; the account id and token come from Secrets Manager when
        LX_CLOUDFLARE_SECRET_ARN is set (a JSON secret: `account_id`, `api_token`, optional `api_base`)."""
        from luxxon.config import get_settings

        settings = settings or get_settings()
        api_base = settings.cloudflare_api_base
        if settings.cloudflare_secret_arn:
            from luxxon.secrets_manager import read_json_secret

            try:
                secret = read_json_secret(settings.cloudflare_secret_arn)
            except ValueError:
                raise VideoBackendError("the Cloudflare secret is not a JSON object") from None
            account_id = str(secret.get("account_id") or secret.get("accountId") or "")
            api_token = str(secret.get("api_token") or secret.get("apiToken") or "")
            api_base = str(secret.get("api_base") or api_base)
        else:
            account_id = settings.cloudflare_account_id or ""
            token = settings.cloudflare_api_token
            api_token = token.get_secret_value() if token else ""
        return cls(
            account_id,
            api_token,
            base_url=api_base,
            timeout_s=settings.cloudflare_timeout_s if timeout_s is None else timeout_s,
            retries=2 if retries is None else retries,
        )

    # -- VideoBackend -------------------------------------------------------------------------------------------

    def create_live_input(self, name: str) -> LiveInput:
        body = {"meta": {"name": name}, "recording": {"mode": "off"}}
        _, envelope = self._request("POST", self._collection, body)
        return _live_input(envelope)

    def get_live_input(self, uid: str) -> LiveInput | None:
        status, envelope = self._request("GET", self._item(uid), allow_404=True)
        if status == 404:
            return None
        return _live_input(envelope)

    def delete_live_input(self, uid: str) -> None:
        self._request("DELETE", self._item(uid), allow_404=True)

    def list_live_inputs(self) -> list[LiveInputSummary]:
        """`GET …/live_inputs`: `result: {liveInputs: [{uid, meta, created, …}], range, total}` (no URLs)."""
        _, envelope = self._request("GET", self._collection)
        result = envelope.get("result")
        items = result.get("liveInputs") if isinstance(result, dict) else None
        if not isinstance(items, list):
            raise VideoBackendError("the video backend returned a malformed live input list")
        return [_summary(item) for item in items if isinstance(item, dict) and isinstance(item.get("uid"), str)]

    # -- HTTP ---------------------------------------------------------------------------------------------------

    def _item(self, uid: str) -> str:
        return f"{self._collection}/{urllib.parse.quote(uid, safe='')}"

    def _request(
        self, method: str, url: str, body: dict[str, Any] | None = None, *, allow_404: bool = False
    ) -> tuple[int, dict[str, Any]]:
        attempts = 1 + (self._retries if method in _RETRYABLE_METHODS else 0)
        for attempt in range(attempts):
            try:
                return self._once(method, url, body, allow_404=allow_404)
            except VideoBackendError as error:
                if not error.retryable or attempt == attempts - 1:
                    raise
                time.sleep(0.2 * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _once(
        self, method: str, url: str, body: dict[str, Any] | None, *, allow_404: bool
    ) -> tuple[int, dict[str, Any]]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
        path = urllib.parse.urlsplit(url).path
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:  # noqa: S310
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise VideoBackendError(f"{method} {path}: video backend unreachable ({reason})") from None
        envelope = _envelope(raw)
        if status == 404 and allow_404:
            return status, envelope
        if not 200 <= status < 300 or envelope.get("success") is False:
            errors = [e for e in envelope.get("errors") or [] if isinstance(e, dict)]
            codes = tuple(int(e["code"]) for e in errors if isinstance(e.get("code"), int))
            detail = "; ".join(str(e.get("message", "")) for e in errors) or f"HTTP {status}"
            raise VideoBackendError(f"{method} {path}: {detail}", status=status, codes=codes)
        return status, envelope


def _envelope(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _live_input(envelope: dict[str, Any]) -> LiveInput:
    result = envelope.get("result")
    result = result if isinstance(result, dict) else {}
    uid = result.get("uid")
    whip, whep = _url(result.get("webRTC")), _url(result.get("webRTCPlayback"))
    if not (isinstance(uid, str) and isinstance(whip, str) and isinstance(whep, str)):
        raise VideoBackendError("the video backend returned a malformed live input")
    status = result.get("status")
    if isinstance(status, dict):  # some API versions nest it: {"current": {"state": "connected"}}
        current = status.get("current")
        status = current.get("state") if isinstance(current, dict) else None
    return LiveInput(uid=uid, whip_url=whip, whep_url=whep, status=status if isinstance(status, str) else None)


def _summary(item: dict[str, Any]) -> LiveInputSummary:
    meta = item.get("meta")
    name = meta.get("name") if isinstance(meta, dict) else None
    created = None
    if isinstance(item.get("created"), str):
        try:
            created = datetime.fromisoformat(item["created"].replace("Z", "+00:00"))
        except ValueError:
            created = None
    return LiveInputSummary(uid=item["uid"], name=name if isinstance(name, str) else None, created=created)


def _url(endpoint: Any) -> Any:
    return endpoint.get("url") if isinstance(endpoint, dict) else None


# -- Webhooks -----------------------------------------------------------------------------------------------------
# Stream Live reports live-input events through Cloudflare Notifications: a webhook destination, created with a
# shared secret, receives a POST per event with the secret in the `cf-webhook-auth` header and the body
#   {"name": <policy name>, "text": <human-readable>, "ts": <unix seconds>,
#    "data": {"notification_name": "Stream Live Input", "input_id", "event_type", "updated_at": <RFC 3339, ns>}}
# where data.event_type is live_input.connected, live_input.disconnected or live_input.errored (which adds
# data.live_input_errored). (The HMAC `Webhook-Signature` is Stream's on-demand video webhook, not this one.)
# https://developers.cloudflare.com/stream/stream-live/webhooks/
# https://developers.cloudflare.com/notifications/reference/webhook-payload-schema/


class CloudflareWebhooks:
    """Authenticates and parses Cloudflare Notifications webhooks about live inputs (`ports.video.EdgeWebhooks`).

    Authentic: `cf-webhook-auth` equals the destination's secret (compared in constant time). That is all the scheme
    offers: a static shared secret, no signature over the body, no timestamp. So whoever holds one delivery (and its
    header) can send it again, or send it late, and it is accepted; what keeps that harmless is the deduplication: the
    event's key is a hash of what identifies the event (input, event type, `updated_at` as sent, `ts` when present), a
    replay or a redelivery has the same key, and an event already kept changes nothing. (Someone holding the secret
    itself could forge events: rotate it as the README's deploy section says.) A body whose `data` carries no
    `event_type` (the destination's test message, another alert) is a notification about no live input.
    """

    def __init__(self, secret: Callable[[], str]) -> None:
        self._secret = secret

    def verify(self, headers: Mapping[str, str], body: bytes) -> EdgeEvent:
        presented = next((v for k, v in headers.items() if k.lower() == WEBHOOK_AUTH_HEADER), None)
        if not authentic(presented, self._secret()):
            raise WebhookRejected("badSecret")
        return parse_notification(body)


def authentic(presented: str | None, secret: str) -> bool:
    """True when the presented `cf-webhook-auth` value is the secret (constant time; any text, any length)."""
    if not presented or not secret:
        return False
    return hmac.compare_digest(presented.encode("utf-8", "surrogatepass"), secret.encode("utf-8", "surrogatepass"))


_MAX_NOTIFICATION_DEPTH = 8  # a notification nests three deep


def parse_notification(body: bytes) -> EdgeEvent:
    """The event a notification body reports, or WebhookRejected(malformed_field="data")."""
    try:
        payload = bounded_json.loads(body, _MAX_NOTIFICATION_DEPTH)
    except bounded_json.MalformedJson:
        raise WebhookRejected("malformed", malformed_field="data") from None
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        raise WebhookRejected("malformed", malformed_field="data")
    event_type = data.get("event_type")
    if event_type is None:  # e.g. the destination's test message
        return EdgeEvent(b"", "", None, None, None)
    if not isinstance(event_type, str):
        raise WebhookRejected("malformed", malformed_field="data")
    signal = LIVE_INPUT_SIGNALS.get(event_type)
    if signal is None:  # an event this service does not act on (acknowledged, so it is not redelivered)
        return EdgeEvent(b"", event_type, None, None, None)
    input_id, updated_at, ts = data.get("input_id"), data.get("updated_at"), payload.get("ts")
    at = _timestamp(updated_at)
    valid_ts = ts is None or (isinstance(ts, int) and not isinstance(ts, bool))
    if not (isinstance(input_id, str) and input_id and at is not None and valid_ts):
        raise WebhookRejected("malformed", malformed_field="data")
    identity = json.dumps([input_id, event_type, updated_at, ts], separators=(",", ":")).encode()
    return EdgeEvent(hashlib.sha256(identity).digest(), event_type, input_id, signal, at)


def _timestamp(raw: object) -> datetime | None:
    """RFC 3339 as Cloudflare sends it (`2022-01-13T11:43:41.855717910Z`: nanoseconds, kept to the microsecond)."""
    if not isinstance(raw, str) or not raw.isascii() or len(raw) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("z", "Z"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else None
