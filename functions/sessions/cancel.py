from aws_lambda_powertools.event_handler import Response

from luxxon import wiring
from luxxon.api import http
from luxxon.models.base import LxSuccessResponseDto
from luxxon.models.sessions import LxSessionDto

app, route = http.endpoint(__name__)


@route
def cancel_session(id: str) -> Response[LxSuccessResponseDto[LxSessionDto]]:  # noqa: A002 - the path name
    """Cancel session

    Consumer-side cancel, allowed in REQUESTED or ASSIGNED. Once LIVE, the consumer must end (not cancel).
    """
    written = wiring.sessions().cancel(http.principal(app), id)
    return http.ok(written.value, token=written.token)


lambda_handler = http.lambda_handler(app)
