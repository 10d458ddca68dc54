from aws_lambda_powertools.event_handler import Response

from luxxon import wiring
from luxxon.api import http
from luxxon.models.base import LxSuccessResponseDto
from luxxon.models.identity import LxWorkspaceDto

app, route = http.endpoint(__name__)


@route
def get_workspace() -> Response[LxSuccessResponseDto[LxWorkspaceDto]]:
    """The caller's workspace: roles, availability, coverage area, wallet."""
    return http.ok(wiring.workspaces().get(http.principal(app)))


lambda_handler = http.lambda_handler(app)
