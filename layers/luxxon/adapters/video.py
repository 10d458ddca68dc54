"""The video backend: one live input per session, a WHIP URL to publish and a WHEP URL to watch.

`CloudflareStream` implements the domain's `ports.VideoBackend` against Cloudflare Stream's live-inputs REST API;
pointed at the local edge (`luxxon.local.edge`), which speaks the same subset, it is the same class in both places
and only the base URL and credentials change. `CloudflareWebhooks` implements `ports.EdgeWebhooks`.

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

from luxxon.domain.ports import EdgeEvent, LiveInput, VideoBackendError, WebhookRejected

if TYPE_CHECKING:
    from luxxon.config import Settings


DEFAULT_API_BASE = "https://api.cloudflare.com/client/v4"
WEBHOOK_SIGNATURE_HEADER = "Webhook-Signature"
LIVE_INPUT_CONNECTED = "live_input.connected"
LIVE_INPUT_DISCONNECTED = "live_input.disconnected"
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
    def from_settings(cls, settings: Settings | None = None) -> CloudflareStream:
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
        return cls(account_id, api_token, base_url=api_base, timeout_s=settings.cloudflare_timeout_s)

    # -- VideoBackend -------------------------------------------------------------------------------------------

    def create_live_input(self, session_id: str) -> LiveInput:
        body = {"meta": {"name": session_id}, "recording": {"mode": "off"}}
        _, envelope = self._request("POST", self._collection, body)
        return _live_input(envelope)

    def get_live_input(self, uid: str) -> LiveInput | None:
        status, envelope = self._request("GET", self._item(uid), allow_404=True)
        if status == 404:
            return None
        return _live_input(envelope)

    def delete_live_input(self, uid: str) -> None:
        self._request("DELETE", self._item(uid), allow_404=True)

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


def _url(endpoint: Any) -> Any:
    return endpoint.get("url") if isinstance(endpoint, dict) else None


# -- Webhooks -----------------------------------------------------------------------------------------------------
# Cloudflare signs each notification: `Webhook-Signature: time=<unix>,sig1=<hex HMAC-SHA256("<time>.<raw body>")>`
# keyed by the webhook secret. The live-input notification body is
# {"name", "text", "data": {"notification_name", "input_id", "event_type", "updated_at"}, "ts"} where
# data.event_type is LIVE_INPUT_CONNECTED or LIVE_INPUT_DISCONNECTED.


def sign_webhook(body: bytes, secret: str, timestamp: int) -> str:
    """The Webhook-Signature header value for `body` sent at `timestamp` (unix seconds)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"time={timestamp},sig1={digest}"


def verify_webhook_signature(
    header: str | None, body: bytes, secret: str, *, tolerance_s: int = 300, now: float | None = None
) -> bool:
    """True when the header signs exactly `body` with `secret` and its time is within `tolerance_s` of now.

    Replays inside the window are the receiver's to reject (e.g. by remembering the signatures it has seen).
    """
    if not header or not secret:
        return False
    fields = dict(part.strip().partition("=")[::2] for part in header.split(","))
    timestamp, signature = fields.get("time", ""), fields.get("sig1", "")
    if not (timestamp.isascii() and timestamp.isdigit()) or not signature:
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance_s:
        return False
    expected = sign_webhook(body, secret, int(timestamp)).partition(",sig1=")[2]
    return hmac.compare_digest(expected, signature)


class CloudflareWebhooks:
    """Verifies and parses Cloudflare's live-input notifications (`ports.EdgeWebhooks`).

    Authentic: `Webhook-Signature` signs exactly the body with our secret, within `tolerance_s` of now. The receipt
    (replay key) is the verified HMAC itself: one per (time, body), whatever the header's spacing or field order.
    """

    def __init__(self, secret: Callable[[], str], tolerance_s: int = 300) -> None:
        self._secret = secret
        self._tolerance_s = tolerance_s

    def verify(self, headers: Mapping[str, str], body: bytes, now: float | None = None) -> EdgeEvent:
        signature = next((v for k, v in headers.items() if k.lower() == WEBHOOK_SIGNATURE_HEADER.lower()), None)
        if not verify_webhook_signature(signature, body, self._secret(), tolerance_s=self._tolerance_s, now=now):
            raise WebhookRejected("badSignature")
        assert signature is not None
        try:
            payload: dict[str, Any] = json.loads(body)
            data = payload["data"]
            event, input_id = str(data["event_type"]), str(data["input_id"])
        except (ValueError, KeyError, TypeError):
            raise WebhookRejected("malformed", malformed_field="data") from None
        connected = {LIVE_INPUT_CONNECTED: True, LIVE_INPUT_DISCONNECTED: False}.get(event)
        return EdgeEvent(_sig1(signature), event, input_id, connected, _event_time(data.get("updated_at")))


def _sig1(header: str) -> bytes:
    fields = dict(part.strip().partition("=")[::2] for part in header.split(","))
    return bytes.fromhex(fields["sig1"].strip().lower())


def _event_time(raw: object) -> datetime:
    """When the edge saw the event (`data.updated_at`), else now."""
    if isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return datetime.now(UTC)
