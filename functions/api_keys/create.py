from http import HTTPStatus

from aws_lambda_powertools.event_handler import Response

from luxxon import wiring
from luxxon.api import http, idempotency
from luxxon.models.base import LxSuccessResponseDto
from luxxon.models.identity import CreateApiKeyRequest, LxCreatedApiKeyDto

app, route = http.endpoint(__name__)


@route
def create_api_key(body: CreateApiKeyRequest) -> Response[LxSuccessResponseDto[LxCreatedApiKeyDto]]:
    """Create a scoped `lxxn_` key. The secret is in this response only; the server keeps its hash."""
    written = wiring.workspaces().create_key(http.principal(app), body, idempotency.key_of(app, body))
    return idempotency.respond(written, HTTPStatus.CREATED)


lambda_handler = http.lambda_handler(app)
