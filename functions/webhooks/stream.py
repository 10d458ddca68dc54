import base64

from aws_lambda_powertools.event_handler import Response

from luxxon import wiring
from luxxon.api import http
from luxxon.models.base import LxSuccessResponseDto
from luxxon.models.sessions import LxWebhookAckDto

app, route = http.endpoint(__name__)


@route
def stream_webhook() -> Response[LxSuccessResponseDto[LxWebhookAckDto]]:
    """Live-input connected/disconnected from the video edge, signed (`Webhook-Signature`).

    A forged, stale or replayed notification is 401 and changes nothing. A disconnect of a LIVE session opens a
    NETWORK_ERROR window (subtracted by the meter); the reconnect closes it.
    """
    event = app.current_event
    raw = event.body or ""  # the signature covers the exact bytes sent, whatever their encoding
    body = base64.b64decode(raw) if event.is_base64_encoded else raw.encode()
    ack = wiring.webhooks().receive(dict(event.headers), body)
    return http.ok(ack)


lambda_handler = http.lambda_handler(app)
