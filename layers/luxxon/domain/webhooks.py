"""Inbound video-edge notifications (live input connected/disconnected): verified, de-duplicated, applied.

The edge's wire format and its authentication are the adapter's (`ports.EdgeWebhooks`); this module decides what a
verified event does. A notification that is not authentic, or was already received (a replay), is 401 and changes
nothing.
"""

from __future__ import annotations

from luxxon.domain.ports import EdgeWebhooks, ReceiptStore, WebhookRejected
from luxxon.domain.sessions import SessionService
from luxxon.errors import ErrorCode, LxError, invalid_input
from luxxon.models.sessions import LxWebhookAckDto


def _unauthenticated(detail: str) -> LxError:
    return LxError(ErrorCode.NOT_AUTHENTICATED, detail)


class WebhookService:
    def __init__(self, edge: EdgeWebhooks, receipts: ReceiptStore, sessions: SessionService) -> None:
        self.edge = edge
        self.receipts = receipts
        self.sessions = sessions

    def receive(self, headers: dict[str, str], body: bytes, now: float | None = None) -> LxWebhookAckDto:
        try:
            event = self.edge.verify(headers, body, now)
        except WebhookRejected as rejected:
            if rejected.malformed_field is not None:
                raise invalid_input(rejected.malformed_field) from None
            raise _unauthenticated(f"webhook:{rejected.reason}") from None
        if self.receipts.seen(event.receipt):
            raise _unauthenticated("webhook:replayed")
        effect = "none"
        if event.connected is not None and event.at is not None:
            effect = self.sessions.stream_event(event.input_id, connected=event.connected, at=event.at)
        # Recorded after the effect (which is idempotent): a crash in between lets the sender's retry through.
        if not self.receipts.remember(event.receipt, event.event_type, event.input_id):
            raise _unauthenticated("webhook:replayed")
        return LxWebhookAckDto(event=event.event_type, effect=effect)
