from aws_lambda_powertools.event_handler import Response

from luxxon.api import http
from luxxon.models.base import LxSuccessResponseDto
from luxxon.models.health import LxHealthDto

app, route = http.endpoint(__name__)


@route
def health() -> Response[LxSuccessResponseDto[LxHealthDto]]:
    """Proof of life. No auth."""
    return http.ok(LxHealthDto(status="ok"))


lambda_handler = http.lambda_handler(app)
