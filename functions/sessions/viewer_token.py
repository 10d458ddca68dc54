from aws_lambda_powertools.event_handler import Response

from luxxon import wiring
from luxxon.api import http
from luxxon.models.base import LxSuccessResponseDto
from luxxon.models.sessions import LxViewerTokenDto

app, route = http.endpoint(__name__)


@route
def viewer_token(id: str) -> Response[LxSuccessResponseDto[LxViewerTokenDto]]:  # noqa: A002 - the path name
    """The WHEP playback URL, for either side, stable for the live input's lifetime."""
    return http.ok(wiring.sessions().viewer_token(http.principal(app), id))


lambda_handler = http.lambda_handler(app)
