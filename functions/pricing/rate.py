from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query

from luxxon import wiring
from luxxon.api import http
from luxxon.models.base import LxSuccessResponseDto
from luxxon.models.pricing import LxPriceDto

app, route = http.endpoint(__name__)


@route
def get_rate(
    lat: Annotated[float, Query(ge=-90, le=90, description="Latitude of the point (WGS84).")],
    lng: Annotated[float, Query(ge=-180, le=180, description="Longitude of the point (WGS84).")],
) -> Response[LxSuccessResponseDto[LxPriceDto]]:
    """The live per-second rate a session requested at this point now would get, and the inputs that produced it:
    base × clamp((demand + 1) / (supply + 1), ½, 3)."""
    return http.ok(wiring.pricing().rate(lat, lng))


lambda_handler = http.lambda_handler(app)
