"""API Gateway's own errors (unauthorized, throttled, missing route, 5xx) in the API's error envelope.

Every response type gets a fixed status, code, message and detail, so a client parses one shape whatever
answered: a handler or the gateway. The table is shared with the local gateway (luxxon.api.gateway_errors), which
answers the same way; messages come from the API's error table (luxxon.errors).
"""

from __future__ import annotations

from aws_cdk import aws_apigateway as apigw

from luxxon.api.gateway_errors import GATEWAY_ERRORS, TIMESTAMP, GatewayError

__all__ = ["GATEWAY_ERRORS", "TIMESTAMP", "GatewayError", "add_gateway_responses"]


def add_gateway_responses(api: apigw.RestApi) -> None:
    for name, error in GATEWAY_ERRORS.items():
        api.add_gateway_response(
            f"Gateway{name.title().replace('_', '')}",
            type=apigw.ResponseType.of(name),
            status_code=str(error.status),
            templates={"application/json": error.template()},
            response_headers={"Content-Type": "'application/json'"},
        )
