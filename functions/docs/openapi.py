from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types

from luxxon.api import http, openapi

app, route = http.endpoint(__name__)


@route
def openapi_document() -> Response[dict[str, Any]]:
    """The OpenAPI 3 document of this API, generated from the code."""
    return Response(200, content_types.APPLICATION_JSON, openapi.document())


lambda_handler = http.lambda_handler(app)
