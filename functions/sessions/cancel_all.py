from aws_lambda_powertools.event_handler import Response

from luxxon import wiring
from luxxon.api import http, idempotency
from luxxon.models.base import LxSuccessResponseDto
from luxxon.models.sessions import LxSessionCancelAllResponseDto

app, route = http.endpoint(__name__)


@route
def cancel_all_assignments() -> Response[LxSuccessResponseDto[LxSessionCancelAllResponseDto]]:
    """Cancel all ASSIGNED sessions for the operator workspace.

    Bulk-cancels every session where this workspace is the operator and the state is ASSIGNED. LIVE sessions are
    not touched. Returns the cancelled ids, oldest first. No-op when there are none.
    """
    written = wiring.sessions().cancel_all_assignments(http.principal(app), idempotency.key_of(app))
    return idempotency.respond(written)


lambda_handler = http.lambda_handler(app)
