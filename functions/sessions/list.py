from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query

from luxxon import wiring
from luxxon.api import http
from luxxon.domain.cursors import SESSION_CURSOR_PATTERN
from luxxon.domain.states import SessionState
from luxxon.models.base import LxSuccessResponseDto
from luxxon.models.sessions import LxSessionPageDto

app, route = http.endpoint(__name__)


@route
def list_sessions(
    state: Annotated[SessionState | None, Query(description="Only sessions in this state.")] = None,
    cursor: Annotated[
        str | None, Query(pattern=SESSION_CURSOR_PATTERN, description="`nextCursor` of the previous page (opaque).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size.")] = 20,
) -> Response[LxSuccessResponseDto[LxSessionPageDto]]:
    """The caller's workspace's sessions (as consumer or operator), newest first, paginated."""
    return http.ok(wiring.sessions().list_for(http.principal(app), state, cursor, limit))


lambda_handler = http.lambda_handler(app)
