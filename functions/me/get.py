from aws_lambda_powertools.event_handler import Response

from luxxon import wiring
from luxxon.api import http
from luxxon.models.base import LxSuccessResponseDto
from luxxon.models.identity import LxMeDto

app, route = http.endpoint(__name__)


@route
def me() -> Response[LxSuccessResponseDto[LxMeDto]]:
    """Who is calling: the workspace and the API key behind the bearer token."""
    return http.ok(wiring.workspaces().me(http.principal(app)))


lambda_handler = http.lambda_handler(app)
