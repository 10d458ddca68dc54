from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query

from luxxon import wiring
from luxxon.api import http
from luxxon.models.base import LxSuccessResponseDto
from luxxon.models.sessions import LxSessionOfferPageDto

app, route = http.endpoint(__name__)


@route
def session_inbox(
    limit: Annotated[int, Query(ge=1, le=100, description="How many, oldest request first.")] = 20,
) -> Response[LxSuccessResponseDto[LxSessionOfferPageDto]]:
    """Supplier inbox: REQUESTED sessions whose point lies inside the caller's coverage area, oldest first."""
    return http.ok(wiring.sessions().inbox(http.principal(app), limit))


lambda_handler = http.lambda_handler(app)
