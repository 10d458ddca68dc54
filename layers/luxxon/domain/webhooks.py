"""Inbound video-edge notifications (live input connected, disconnected, errored): authenticated, then applied.

The edge's wire format and its authentication are the adapter's (`ports.video.EdgeWebhooks`); what a verified event does
to the session's windows is `luxxon.domain.windows`'. A notification that is not authentic is 401 and changes
nothing; an authentic one that is malformed is 400 `input:<field>` and changes nothing; a redelivery of an event
already applied is acknowledged (200) and changes nothing, so the sender stops retrying.
"""

from __future__ import annotations

from luxxon.domain.ports.video import EdgeWebhooks, WebhookRejected
from luxxon.domain.windows import WindowService
from luxxon.errors import ErrorCode, LxError, invalid_input
from luxxon.models.sessions import LxWebhookAckDto


class WebhookService:
    def __init__(self, edge: EdgeWebhooks, windows: WindowService) -> None:
        self.edge = edge
        self.windows = windows

    def receive(self, headers: dict[str, str], body: bytes) -> LxWebhookAckDto:
        try:
            event = self.edge.verify(headers, body)
        except WebhookRejected as rejected:
            if rejected.malformed_field is not None:
                raise invalid_input(rejected.malformed_field) from None
            raise LxError(ErrorCode.NOT_AUTHENTICATED, f"webhook:{rejected.reason}") from None
        return LxWebhookAckDto(event=event.event_type, effect=self.windows.edge_event(event))
