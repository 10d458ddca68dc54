from aws_lambda_powertools.event_handler import Response

from luxxon import wiring
from luxxon.api import http
from luxxon.models.base import LxSuccessResponseDto
from luxxon.models.identity import LxApiKeyListDto

app, route = http.endpoint(__name__)


@route
def list_api_keys() -> Response[LxSuccessResponseDto[LxApiKeyListDto]]:
    """The workspace's API keys, revoked ones included. Secrets are never shown again."""
    return http.ok(wiring.workspaces().list_keys(http.principal(app)))


lambda_handler = http.lambda_handler(app)
