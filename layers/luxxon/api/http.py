"""One resolver factory for every handler: validation on, auth from the route table, every error in the envelope.

A handler module does:

    app, route = http.endpoint(__name__)

    @route
    def get_session(id: str) -> Response[LxSuccessResponseDto[LxSessionDto]]:
        return http.ok(wiring.sessions().get(http.principal(app), id))

    lambda_handler = http.lambda_handler(app)
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, TypeVar

import psycopg
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.logging import correlation_paths
from pydantic import BaseModel

from luxxon.api import wiring
from luxxon.domain.identity import Principal, authenticate, authorize
from luxxon.errors import ERRORS, ErrorCode, LxError
from luxxon.models.base import LxErrorResponseDto, LxSuccessResponseDto, now_iso
from luxxon.observability import logger, metrics, tracer
from luxxon.routes import Route, route_for

F = TypeVar("F", bound=Callable[..., Any])
CONSISTENCY_HEADER = "x-lx-consistency-token"
_TOKEN_RE = re.compile(r"^[0-9]{1,20}$")
_TAGS = {
    "sessions": "Sessions",
    "me": "Me",
    "workspaces": "Workspaces",
    "api_keys": "API keys",
    "health": "Health",
    "docs": "Health",
}

_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": ", ".join(code for code, (s, _) in ERRORS.items() if s == status),
        "content": {"application/json": {"model": LxErrorResponseDto}},
    }
    for status in sorted({s for s, _ in ERRORS.values()})
}


@dataclass(frozen=True)
class Endpoint:
    """What a handler module registered: enough to rebuild the whole API for the OpenAPI document."""

    route: Route
    func: Callable[..., Any]
    options: dict[str, Any] = field(default_factory=dict)


ENDPOINTS: dict[str, Endpoint] = {}


def error_body(code: ErrorCode, detail: str | None) -> str:
    status, message = ERRORS[code]
    return json.dumps(
        {"statusCode": status, "code": code.value, "message": message, "detail": detail, "timestamp": now_iso()}
    )


def error_response(code: ErrorCode, detail: str | None) -> Response[Any]:
    return Response(
        status_code=ERRORS[code][0], content_type=content_types.APPLICATION_JSON, body=error_body(code, detail)
    )


def ok(data: BaseModel, status: HTTPStatus = HTTPStatus.OK, token: str | None = None) -> Response[Any]:
    """The success envelope. `token` is the consistency token of the write that produced `data`."""
    envelope = LxSuccessResponseDto[type(data)](  # type: ignore[misc,operator]
        statusCode=status.value, message="Request successful", data=data
    )
    headers = {CONSISTENCY_HEADER: token} if token else None
    return Response(
        status_code=status.value, content_type=content_types.APPLICATION_JSON, body=envelope, headers=headers
    )


def principal(app: APIGatewayRestResolver) -> Principal:
    who: Principal = app.context["principal"]
    return who


def _auth_middleware(route: Route) -> Callable[[APIGatewayRestResolver, NextMiddleware], Response[Any]]:
    def authenticate_request(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
        try:
            who = authenticate(app.current_event.headers.get("authorization"), wiring.identity_store())
        except (psycopg.OperationalError, psycopg.InterfaceError):
            logger.exception("authorization store unavailable")
            raise LxError(ErrorCode.AUTHZ_ERROR, "auth:storeUnavailable") from None
        authorize(who, route.scopes)
        app.append_context(principal=who)
        return next_middleware(app)

    return authenticate_request


def _consistency_middleware(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
    token = app.current_event.headers.get(CONSISTENCY_HEADER)
    if token is not None and not _TOKEN_RE.match(token):
        raise LxError(ErrorCode.INVALID_INPUT, f"input:{CONSISTENCY_HEADER}")
    return next_middleware(app)


def _field_of(error: dict[str, Any]) -> str:
    loc = [part for part in error.get("loc", ()) if isinstance(part, str)]
    loc = [part for part in loc if part not in ("body", "query", "path", "header")]
    return ".".join(loc) or "body"


def new_resolver() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(enable_validation=True)

    @app.exception_handler(LxError)
    def _lx_error(error: LxError) -> Response[Any]:
        return error_response(error.code, error.detail)

    @app.exception_handler(RequestValidationError)
    def _invalid(error: RequestValidationError) -> Response[Any]:
        errors = error.errors()
        field_name = _field_of(errors[0]) if errors else "body"
        return error_response(ErrorCode.INVALID_INPUT, f"input:{field_name}")

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response[Any]:
        logger.exception("unhandled error")
        return error_response(ErrorCode.INTERNAL_ERROR, "internal:unexpected")

    @app.not_found
    def _not_found(_: Exception) -> Response[Any]:
        return error_response(ErrorCode.ROUTE_NOT_FOUND, "route:notFound")

    return app


def endpoint(module: str) -> tuple[APIGatewayRestResolver, Callable[[F], F]]:
    """The resolver of a handler module and the decorator that registers its one route from the table."""
    route = route_for(module)
    app = new_resolver()
    middlewares: list[Callable[[APIGatewayRestResolver, NextMiddleware], Response[Any]]] = [_consistency_middleware]
    if route.auth:
        middlewares.insert(0, _auth_middleware(route))
    app.use(middlewares=middlewares)

    def register(func: F) -> F:
        doc = (func.__doc__ or "").strip()
        summary, _, description = doc.partition("\n")
        options: dict[str, Any] = {
            "summary": summary.strip() or None,
            "description": description.strip() or None,
            "operation_id": route.name,
            "tags": [_TAGS[route.module.split(".")[1]]],
            "responses": {route.status: {"description": "Request successful"}, **_ERROR_RESPONSES},
        }
        if route.auth:
            options["security"] = [{"access-token": []}]
        ENDPOINTS[module] = Endpoint(route, func, options)
        app.route(route.powertools_rule, route.method, **options)(func)
        return func

    return app, register


def lambda_handler(app: APIGatewayRestResolver) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
    @tracer.capture_lambda_handler(capture_response=False)
    @metrics.log_metrics
    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return app.resolve(event, context)

    return handle
