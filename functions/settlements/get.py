from aws_lambda_powertools.event_handler import Response

from luxxon import wiring
from luxxon.api import http
from luxxon.models.base import LxSuccessResponseDto
from luxxon.models.settlements import LxSettlementDto

app, route = http.endpoint(__name__)


@route
def get_settlement(sessionId: str) -> Response[LxSuccessResponseDto[LxSettlementDto]]:  # noqa: N803 - the path name
    """A session's on-chain settlement: status, transaction, block, confirmations, seconds, rate, amount. Visible to
    the session's two parties only."""
    return http.ok(wiring.money().settlement(http.principal(app), sessionId))


lambda_handler = http.lambda_handler(app)
