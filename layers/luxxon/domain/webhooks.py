"""Inbound video-edge webhooks (Cloudflare Stream live-input notifications): verified, de-duplicated, applied.

A webhook is accepted only when its `Webhook-Signature` signs exactly the body with our secret, its time is within
the tolerance, and that signature has not been seen before (a replay). Anything else is 401 and changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from luxxon.adapters.video import LIVE_INPUT_CONNECTED, LIVE_INPUT_DISCONNECTED, verify_webhook_signature
from luxxon.domain.sessions import SessionService
from luxxon.errors import ErrorCode, LxError, invalid_input
from luxxon.models.sessions import LxWebhookAckDto


class ReceiptStore(Protocol):
    def seen(self, signature: bytes) -> bool: ...
    def remember(self, signature: bytes, event: str, input_id: str | None) -> bool:
        """Record a webhook; False when it was already recorded (a replay)."""
        ...


def _sig1(header: str) -> bytes:
    """The HMAC itself (hex) of a verified header: one per (time, body), whatever the header's spacing or order."""
    fields = dict(part.strip().partition("=")[::2] for part in header.split(","))
    return bytes.fromhex(fields["sig1"].strip().lower())


def _unauthenticated(detail: str) -> LxError:
    return LxError(ErrorCode.NOT_AUTHENTICATED, detail)


class WebhookService:
    def __init__(
        self, receipts: ReceiptStore, sessions: SessionService, secret: Callable[[], str], tolerance_s: int
    ) -> None:
        self.receipts = receipts
        self.sessions = sessions
        self.secret = secret
        self.tolerance_s = tolerance_s

    def receive(self, signature: str | None, body: bytes, now: float | None = None) -> LxWebhookAckDto:
        if not verify_webhook_signature(signature, body, self.secret(), tolerance_s=self.tolerance_s, now=now):
            raise _unauthenticated("webhook:badSignature")
        try:
            payload: dict[str, Any] = json.loads(body)
            data = payload["data"]
            event, input_id = str(data["event_type"]), str(data["input_id"])
        except (ValueError, KeyError, TypeError):
            raise invalid_input("data") from None
        assert signature is not None
        sig1 = _sig1(signature)
        if self.receipts.seen(sig1):
            raise _unauthenticated("webhook:replayed")
        effect = "none"
        if event in (LIVE_INPUT_CONNECTED, LIVE_INPUT_DISCONNECTED):
            at = _event_time(data.get("updated_at"))
            effect = self.sessions.stream_event(input_id, connected=event == LIVE_INPUT_CONNECTED, at=at)
        # Recorded after the effect (which is idempotent): a crash in between lets the sender's retry through.
        if not self.receipts.remember(sig1, event, input_id):
            raise _unauthenticated("webhook:replayed")
        return LxWebhookAckDto(event=event, effect=effect)


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
