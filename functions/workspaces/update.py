from aws_lambda_powertools.event_handler import Response

from luxxon import wiring
from luxxon.api import http
from luxxon.models.base import LxSuccessResponseDto
from luxxon.models.identity import LxWorkspaceDto, UpdateWorkspaceRequest

app, route = http.endpoint(__name__)


@route
def update_workspace(body: UpdateWorkspaceRequest) -> Response[LxSuccessResponseDto[LxWorkspaceDto]]:
    """Update the caller's workspace: name, availability (ONLINE/OFFLINE), coverage area (GeoJSON polygon).

    BUSY is set and cleared by the session lifecycle; while BUSY, an availability change is ignored.
    """
    written = wiring.workspaces().update(http.principal(app), body)
    return http.ok(written.value, token=written.token)


lambda_handler = http.lambda_handler(app)
