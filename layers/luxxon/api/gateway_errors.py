"""API Gateway's own answers (unauthorized, throttled, missing route, method not allowed, OPTIONS, 5xx, and the
per-address edge limit's refusal).

One table for the deployed API (infra/gateway_responses.py turns each row into a gateway response, and builds the
METHOD_NOT_ALLOWED and OPTIONS answers of every resource) and for the local gateway (luxxon.local.gateway answers the
same rows the same way), so a client parses one shape whatever answered: a handler, API Gateway, or the local
stand-in for it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from luxxon.errors import ERRORS, ErrorCode

# A gateway response template is plain variable substitution (no VTL), so `timestamp` is `$context.requestTime`
# (CLF, e.g. `24/Nov/2025:05:11:00 +0000`): the only clock API Gateway exposes there. The MOCK integrations' response
# templates (VTL) use the same variable, so every answer of API Gateway's own has the same timestamp format.
TIMESTAMP = "$context.requestTime"


@dataclass(frozen=True)
class GatewayError:
    status: int
    code: str
    detail: str

    @property
    def message(self) -> str:
        return {code.value: message for code, (_, message) in ERRORS.items()}[self.code]

    def envelope(self, timestamp: str) -> dict[str, object]:
        """statusCode, code, message, detail, timestamp: the same keys as LxErrorResponseDto."""
        return {
            "statusCode": self.status,
            "code": self.code,
            "message": self.message,
            "detail": self.detail,
            "timestamp": timestamp,
        }

    def template(self) -> str:
        """The deployed gateway response's body template."""
        return json.dumps(self.envelope(TIMESTAMP), separators=(",", ":"))


_NOT_AUTHENTICATED = ErrorCode.NOT_AUTHENTICATED.value
_NOT_AUTHORIZED = ErrorCode.NOT_AUTHORIZED.value
_INVALID_INPUT = ErrorCode.INVALID_INPUT.value
_INTERNAL = ErrorCode.INTERNAL_ERROR.value

# Every response type API Gateway REST can emit. MISSING_AUTHENTICATION_TOKEN is what it returns for a path that no
# route declares (the API has no IAM/authorizer auth), so it is the 404 ROUTE_NOT_FOUND the resolver also returns. A
# declared path never reaches it: its ANY method answers every method the path does not declare (METHOD_NOT_ALLOWED).
GATEWAY_ERRORS: dict[str, GatewayError] = {
    "MISSING_AUTHENTICATION_TOKEN": GatewayError(404, ErrorCode.ROUTE_NOT_FOUND.value, "route:notFound"),
    "RESOURCE_NOT_FOUND": GatewayError(404, ErrorCode.ROUTE_NOT_FOUND.value, "route:notFound"),
    "UNAUTHORIZED": GatewayError(401, _NOT_AUTHENTICATED, "auth:unauthorized"),
    "EXPIRED_TOKEN": GatewayError(401, _NOT_AUTHENTICATED, "auth:expiredToken"),
    "INVALID_SIGNATURE": GatewayError(401, _NOT_AUTHENTICATED, "auth:invalidSignature"),
    "INVALID_API_KEY": GatewayError(401, _NOT_AUTHENTICATED, "auth:invalidApiKey"),
    "ACCESS_DENIED": GatewayError(403, _NOT_AUTHORIZED, "auth:accessDenied"),
    # A request the web ACL blocked: its one blocking rule is the per-address edge limit (luxxon.api.edge_limit), so
    # a block is that limit's refusal, with Retry-After from the stage's limit. A rule blocking for another reason
    # must bring its own WAF custom response, which takes precedence over this gateway response (AWS WAF, "Sending
    # custom responses for Block actions"); tests/infra checks that every rule of the web ACL is the rate rule.
    "WAF_FILTERED": GatewayError(429, ErrorCode.THROTTLED.value, "rate:client"),
    "THROTTLED": GatewayError(429, ErrorCode.THROTTLED.value, "rate:throttled"),
    "QUOTA_EXCEEDED": GatewayError(429, ErrorCode.THROTTLED.value, "rate:quotaExceeded"),
    "BAD_REQUEST_BODY": GatewayError(400, _INVALID_INPUT, "input:body"),
    "BAD_REQUEST_PARAMETERS": GatewayError(400, _INVALID_INPUT, "input:parameters"),
    "REQUEST_TOO_LARGE": GatewayError(413, _INVALID_INPUT, "input:tooLarge"),
    "UNSUPPORTED_MEDIA_TYPE": GatewayError(415, _INVALID_INPUT, "input:mediaType"),
    "DEFAULT_4XX": GatewayError(400, _INVALID_INPUT, "gateway:badRequest"),
    "AUTHORIZER_FAILURE": GatewayError(503, ErrorCode.AUTHZ_ERROR.value, "auth:authorizerFailure"),
    "AUTHORIZER_CONFIGURATION_ERROR": GatewayError(503, ErrorCode.AUTHZ_ERROR.value, "auth:authorizerConfiguration"),
    "INTEGRATION_FAILURE": GatewayError(502, _INTERNAL, "internal:integrationFailure"),
    "INTEGRATION_TIMEOUT": GatewayError(504, _INTERNAL, "internal:integrationTimeout"),
    "API_CONFIGURATION_ERROR": GatewayError(500, _INTERNAL, "internal:apiConfiguration"),
    "DEFAULT_5XX": GatewayError(500, _INTERNAL, "internal:gateway"),
}
# The response type of a request over the per-address edge limit (the web ACL blocked it).
EDGE_REFUSAL = "WAF_FILTERED"
# API Gateway's cap on a request payload (REQUEST_TOO_LARGE above it).
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024

# What every resource (a path of the route table) answers without a Lambda: a method it does not declare is 405
# METHOD_NOT_ALLOWED in the envelope, OPTIONS is 204 without a body; both with `Allow` (luxxon.routes.allow_header).
# Deployed: one ANY method per resource, a MOCK integration (API Gateway prefers a resource's explicit methods to its
# ANY method, so ANY gets exactly the undeclared ones, OPTIONS included).
METHOD_NOT_ALLOWED = GatewayError(405, ErrorCode.METHOD_NOT_ALLOWED.value, "route:methodNotAllowed")
OPTIONS_STATUS = 204
ALLOW = "Allow"
RETRY_AFTER = "Retry-After"  # on a 429: whole seconds to wait
