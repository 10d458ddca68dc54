from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query

from luxxon import wiring
from luxxon.api import http
from luxxon.domain.cursors import EVENT_CURSOR_PATTERN
from luxxon.models.base import LxSuccessResponseDto
from luxxon.models.settlements import LxWalletDto

app, route = http.endpoint(__name__)


@route
def get_wallet(
    cursor: Annotated[
        str | None,
        Query(pattern=EVENT_CURSOR_PATTERN, description="`nextCursor` of the previous page of events (opaque)."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="Events per page.")] = 20,
) -> Response[LxSuccessResponseDto[LxWalletDto]]:
    """The caller's workspace wallet: its pool on chain, the holds drawing on it, what is available, its pending
    withdrawal, what it is owed and has withdrawn as an operator, and its event log (newest first, confirmed)."""
    return http.ok(wiring.money().wallet(http.principal(app), cursor, limit))


lambda_handler = http.lambda_handler(app)
