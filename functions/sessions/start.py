from aws_lambda_powertools.event_handler import Response

from luxxon import wiring
from luxxon.api import http, idempotency
from luxxon.models.base import LxSuccessResponseDto
from luxxon.models.sessions import LxSessionDto

app, route = http.endpoint(__name__)


@route
def start_session(id: str) -> Response[LxSuccessResponseDto[LxSessionDto]]:  # noqa: A002 - the path name
    """Start: provision the live input and return the WHIP + WHEP URLs (operator, ASSIGNED).

    The state stays ASSIGNED: the session turns LIVE once the server-side decoder buffers the first frame.
    Idempotent: a repeat (or concurrent) call returns the same URLs and creates no second live input.
    """
    written = wiring.sessions().start(http.principal(app), id, idempotency.key_of(app))
    return idempotency.respond(written)


lambda_handler = http.lambda_handler(app)
