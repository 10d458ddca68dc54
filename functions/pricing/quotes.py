from http import HTTPStatus

from aws_lambda_powertools.event_handler import Response

from luxxon import wiring
from luxxon.api import http, idempotency
from luxxon.models.base import LxSuccessResponseDto
from luxxon.models.pricing import LxQuoteDto, QuoteRequest

app, route = http.endpoint(__name__)


@route
def create_quote(body: QuoteRequest) -> Response[LxSuccessResponseDto[LxQuoteDto]]:
    """Lock the live rate at a point for a short while: pass `quoteId` to POST /sessions (once, within
    `expiresAt`, for a point within 100 m) and the session gets this rate."""
    written = wiring.pricing().quote(http.principal(app), body.lat, body.lng, idempotency.key_of(app, body))
    return idempotency.respond(written, HTTPStatus.CREATED)


lambda_handler = http.lambda_handler(app)
