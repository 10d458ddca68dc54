from aws_lambda_powertools.event_handler import Response

from luxxon import wiring
from luxxon.api import http
from luxxon.models.base import LxSuccessResponseDto
from luxxon.models.identity import LxApiKeyDto

app, route = http.endpoint(__name__)


@route
def revoke_api_key(id: str) -> Response[LxSuccessResponseDto[LxApiKeyDto]]:  # noqa: A002 - the path name
    """Revoke a key. It fails authentication from the very next request on. Revoking twice is a no-op."""
    written = wiring.workspaces().revoke_key(http.principal(app), id)
    return http.ok(written.value, token=written.token)


lambda_handler = http.lambda_handler(app)
