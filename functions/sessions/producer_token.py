from aws_lambda_powertools.event_handler import Response

from luxxon import wiring
from luxxon.api import http
from luxxon.models.base import LxSuccessResponseDto
from luxxon.models.sessions import LxProducerTokenDto

app, route = http.endpoint(__name__)


@route
def producer_token(id: str) -> Response[LxSuccessResponseDto[LxProducerTokenDto]]:  # noqa: A002 - the path name
    """The WHIP publishing URL, for the operator side only (the URL is the publisher's credential)."""
    return http.ok(wiring.sessions().producer_token(http.principal(app), id))


lambda_handler = http.lambda_handler(app)
