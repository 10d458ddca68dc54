from aws_lambda_powertools.event_handler import Response

from luxxon import wiring
from luxxon.api import http
from luxxon.models.base import LxSuccessResponseDto
from luxxon.models.sessions import LxSessionDto

app, route = http.endpoint(__name__)


@route
def get_session(id: str) -> Response[LxSuccessResponseDto[LxSessionDto]]:  # noqa: A002 - the path name
    """One session. Visible to its consumer and its operator; to anyone else it does not exist."""
    return http.ok(wiring.sessions().get(http.principal(app), id))


lambda_handler = http.lambda_handler(app)
