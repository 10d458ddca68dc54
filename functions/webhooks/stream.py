import base64

from aws_lambda_powertools.event_handler import Response

from luxxon import wiring
from luxxon.api import http
from luxxon.models.base import LxSuccessResponseDto
from luxxon.models.sessions import LxWebhookAckDto

app, route = http.endpoint(__name__)


@route
def stream_webhook() -> Response[LxSuccessResponseDto[LxWebhookAckDto]]:
    """Live-input connected/disconnected/errored from the video edge (Cloudflare Notifications, `cf-webhook-auth`).

    A wrong or missing secret is 401 and changes nothing. The secret is static and signs neither the body nor a time,
    so nothing refuses a stale or replayed delivery: a replay of a captured one (or Cloudflare's own redelivery) is
    acknowledged and changes nothing, since each event is kept once, keyed by its content. The session's NETWORK_ERROR
    windows (subtracted by the meter) are derived from all of its live input's events in `updated_at` order.
    """
    event = app.current_event
    raw = event.body or ""  # the exact bytes sent, whatever their encoding
    body = base64.b64decode(raw) if event.is_base64_encoded else raw.encode()
    ack = wiring.webhooks().receive(dict(event.headers), body)
    return http.ok(ack)


lambda_handler = http.lambda_handler(app)
