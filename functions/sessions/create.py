from http import HTTPStatus

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.metrics import MetricUnit

from luxxon import wiring
from luxxon.api import http, idempotency
from luxxon.models.base import LxSuccessResponseDto
from luxxon.models.sessions import CreateSessionRequest, LxSessionDto
from luxxon.observability import metrics

app, route = http.endpoint(__name__)


@route
def create_session(body: CreateSessionRequest) -> Response[LxSuccessResponseDto[LxSessionDto]]:
    """Request a live feed at a point. The session starts REQUESTED with its rate stamped.

    `maxDurationSeconds` defaults to 600 and must lie in [10, 14400]; `waitTimeoutSeconds` defaults to 300 and is
    clamped to [5, 3600]. `holdMicroUsdc` = rate × maxDurationSeconds.
    """
    written = wiring.sessions().create(http.principal(app), body, idempotency.key_of(app, body))
    if not written.replayed:
        metrics.add_metric(name="SessionsRequested", unit=MetricUnit.Count, value=1)
    return idempotency.respond(written, HTTPStatus.CREATED)


lambda_handler = http.lambda_handler(app)
