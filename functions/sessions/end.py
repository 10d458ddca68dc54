from aws_lambda_powertools.event_handler import Response

from luxxon import wiring
from luxxon.api import http, idempotency
from luxxon.models.base import LxSuccessResponseDto
from luxxon.models.sessions import LxSessionDto

app, route = http.endpoint(__name__)


@route
def end_session(id: str) -> Response[LxSuccessResponseDto[LxSessionDto]]:  # noqa: A002 - the path name
    """End a LIVE session (either side). The meter runs in the same transaction.

    cleanSeconds = floor(endedAt − startedAt) − the union of disconnect windows; charged = cleanSeconds × rate.
    """
    written = wiring.sessions().end(http.principal(app), id, idempotency.key_of(app))
    return idempotency.respond(written)


lambda_handler = http.lambda_handler(app)
