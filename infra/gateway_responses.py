"""API Gateway's own answers in the API's error envelope: its gateway responses, and each resource's MOCK method.

Every response type gets a fixed status, code, message and detail, so a client parses one shape whatever
answered: a handler or the gateway (WAF_FILTERED, a request over the per-address edge limit, also gets Retry-After).
Every resource (a path of the route table) also gets an ANY method, a MOCK integration, answering OPTIONS with 204 and
every other method it does not declare with 405 METHOD_NOT_ALLOWED, both with `Allow`: API Gateway answers them
without invoking a Lambda. The table is shared with the local gateway
(luxxon.api.gateway_errors), which answers the same way; messages come from the API's error table (luxxon.errors).
"""

from __future__ import annotations

from aws_cdk import aws_apigateway as apigw

from luxxon.api.edge_limit import EdgeLimit
from luxxon.api.gateway_errors import (
    ALLOW,
    EDGE_REFUSAL,
    GATEWAY_ERRORS,
    METHOD_NOT_ALLOWED,
    OPTIONS_STATUS,
    TIMESTAMP,
    GatewayError,
)
from luxxon.routes import JSON

__all__ = ["GATEWAY_ERRORS", "TIMESTAMP", "GatewayError", "add_gateway_responses", "add_method_answers"]


def add_gateway_responses(api: apigw.RestApi, edge_limit: EdgeLimit) -> None:
    """Every gateway response in the envelope; the edge limit's refusal (WAF_FILTERED) also says when to retry."""
    extra_headers = {EDGE_REFUSAL: edge_limit.headers}
    for name, error in GATEWAY_ERRORS.items():
        headers = {"Content-Type": "application/json", **extra_headers.get(name, {})}
        api.add_gateway_response(
            f"Gateway{name.title().replace('_', '')}",
            type=apigw.ResponseType.of(name),
            status_code=str(error.status),
            templates={"application/json": error.template()},
            response_headers={header: f"'{value}'" for header, value in headers.items()},  # static values: quoted
        )


def add_method_answers(resource: apigw.IResource, allow: str) -> None:
    """One ANY method, a MOCK: API Gateway prefers a resource's explicit methods, so it gets exactly the methods the
    resource does not declare. OPTIONS → 204 without a body, any other → 405 in the envelope; both `Allow: <allow>`.

    One method rather than ANY + OPTIONS: a CloudFormation stack holds at most 500 resources, and this is one per path.
    """
    allow_header = {f"method.response.header.{ALLOW}": f"'{allow}'"}
    refusal = {**allow_header, "method.response.header.Content-Type": f"'{JSON}'"}
    # The MOCK answers the status its request template names (VTL, in the shape of AWS's mock-integration example).
    choose = (
        '{\n  #if($context.httpMethod == "OPTIONS")\n'
        f'    "statusCode": {OPTIONS_STATUS}\n  #else\n    "statusCode": {METHOD_NOT_ALLOWED.status}\n  #end\n}}'
    )
    integration = apigw.MockIntegration(
        request_templates={JSON: choose},
        # With `binaryMediaTypes: */*` every request body is binary, which a MOCK cannot map: CONVERT_TO_TEXT makes it
        # text first (else API Gateway answers 500).
        content_handling=apigw.ContentHandling.CONVERT_TO_TEXT,
        # A request of another media type is API Gateway's 415 (UNSUPPORTED_MEDIA_TYPE, in the envelope) rather than
        # its body passed to the MOCK, which cannot read a status from it (a 500).
        passthrough_behavior=apigw.PassthroughBehavior.NEVER,
        integration_responses=[
            apigw.IntegrationResponse(
                selection_pattern=str(OPTIONS_STATUS), status_code=str(OPTIONS_STATUS), response_parameters=allow_header
            ),
            apigw.IntegrationResponse(  # no selection pattern: the default, whatever else the MOCK gave
                status_code=str(METHOD_NOT_ALLOWED.status),
                response_parameters=refusal,
                response_templates={JSON: METHOD_NOT_ALLOWED.template()},
            ),
        ],
    )
    resource.add_method(
        "ANY",
        integration,
        method_responses=[
            apigw.MethodResponse(
                status_code=str(OPTIONS_STATUS), response_parameters=dict.fromkeys(allow_header, True)
            ),
            apigw.MethodResponse(
                status_code=str(METHOD_NOT_ALLOWED.status), response_parameters=dict.fromkeys(refusal, True)
            ),
        ],
    )
