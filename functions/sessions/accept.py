from aws_lambda_powertools.event_handler import Response

from luxxon import wiring
from luxxon.api import http, idempotency
from luxxon.models.base import LxSuccessResponseDto
from luxxon.models.sessions import LxSessionDto

app, route = http.endpoint(__name__)


@route
def accept_session(id: str) -> Response[LxSuccessResponseDto[LxSessionDto]]:  # noqa: A002 - the path name
    """Accept a REQUESTED session as its operator (CAS REQUESTED → ASSIGNED). SUPPLIER workspaces only."""
    written = wiring.sessions().accept(http.principal(app), id, idempotency.key_of(app))
    return idempotency.respond(written)


lambda_handler = http.lambda_handler(app)
