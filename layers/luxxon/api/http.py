"""One resolver factory for every handler: validation on, auth from the route table, every error in the envelope.

A handler module does:

    app, route = http.endpoint(__name__)

    @route
    def get_session(id: str) -> Response[LxSuccessResponseDto[LxSessionDto]]:
        return http.ok(wiring.sessions().get(http.principal(app), id))

    lambda_handler = http.lambda_handler(app)
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, TypeVar, get_args, get_origin

import psycopg
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from pydantic import BaseModel

from luxxon import wiring
from luxxon.api import snapstart
from luxxon.domain.identity import authenticate, authorize
from luxxon.domain.ports import Principal
from luxxon.errors import ERRORS, ErrorCode, LxError
from luxxon.models.base import LxErrorResponseDto, now_iso
from luxxon.observability import logger, metrics, traced
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
    "webhooks": "Webhooks",
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
    """The success envelope. `token` is the consistency token of the write that produced `data`.

    DTOs are validated when built, so the envelope is serialized once here (pydantic-core), not revalidated.
    """
    body = (
        f'{{"statusCode":{status.value},"message":"Request successful",'
        f'"data":{data.model_dump_json()},"timestamp":"{now_iso()}"}}'
    )
    headers = {CONSISTENCY_HEADER: token} if token else None
    return Response(status_code=status.value, content_type=content_types.APPLICATION_JSON, body=body, headers=headers)


def principal(app: APIGatewayRestResolver) -> Principal:
    who: Principal = app.context["principal"]
    return who


def _checked_token(headers: Mapping[str, str]) -> None:
    token = headers.get(CONSISTENCY_HEADER)
    if token is not None and not _TOKEN_RE.match(token):
        raise LxError(ErrorCode.INVALID_INPUT, f"input:{CONSISTENCY_HEADER}")


def _middleware(route: Route) -> Callable[[APIGatewayRestResolver, NextMiddleware], Response[Any]]:
    """Consistency-token check, then (for routes that need it) authentication and scope authorization."""

    def check_request(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
        headers = app.current_event.headers
        _checked_token(headers)
        if route.auth:
            try:
                who = authenticate(headers.get("authorization"), wiring.workspace_store())
            except (psycopg.OperationalError, psycopg.InterfaceError):
                logger.exception("authorization store unavailable")
                raise LxError(ErrorCode.AUTHZ_ERROR, "auth:storeUnavailable") from None
            authorize(who, route.scopes)
            app.append_context(principal=who)
        return next_middleware(app)

    return check_request


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

    @app.exception_handler(UnicodeDecodeError)
    def _not_utf8(error: UnicodeDecodeError) -> Response[Any]:
        return error_response(ErrorCode.INVALID_INPUT, "input:body")

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response[Any]:
        logger.exception("unhandled error")
        return error_response(ErrorCode.INTERNAL_ERROR, "internal:unexpected")

    @app.not_found
    def _not_found(_: Exception) -> Response[Any]:
        return error_response(ErrorCode.ROUTE_NOT_FOUND, "route:notFound")

    return app


def _success_response(func: Callable[..., Any]) -> dict[str, Any]:
    """`-> Response[Model]` becomes the documented success body; other annotations document themselves."""
    annotation = inspect.signature(func, eval_str=True).return_annotation
    args = get_args(annotation)
    if get_origin(annotation) is Response and args and isinstance(args[0], type) and issubclass(args[0], BaseModel):
        return {"description": "Request successful", "content": {"application/json": {"model": args[0]}}}
    return {"description": "Request successful"}


def endpoint(module: str) -> tuple[APIGatewayRestResolver, Callable[[F], F]]:
    """The resolver of a handler module and the decorator that registers its one route from the table."""
    route = route_for(module)
    snapstart.register(route)  # Lambda SnapStart hooks (a no-op outside Lambda)
    app = new_resolver()
    app.use(middlewares=[_middleware(route)])

    def register(func: F) -> F:
        doc = (func.__doc__ or "").strip()
        summary, _, description = doc.partition("\n")
        options: dict[str, Any] = {
            "summary": summary.strip() or None,
            "description": description.strip() or None,
            "operation_id": route.name,
            "tags": [_TAGS[route.module.split(".")[1]]],
            "responses": {route.status: _success_response(func), **_ERROR_RESPONSES},
        }
        if route.auth:
            options["security"] = [{"access-token": []}]
        # The return annotation documents the response; it is not re-validated at run time (see `ok`).
        func.__signature__ = inspect.signature(func).replace(return_annotation=inspect.Signature.empty)  # type: ignore[attr-defined]
        ENDPOINTS[module] = Endpoint(route, func, options)
        app.route(route.powertools_rule, route.method, **options)(func)
        return func

    return app, register


def lambda_handler(app: APIGatewayRestResolver) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    @logger.inject_lambda_context
    @traced
    @metrics.log_metrics
    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        logger.set_correlation_id(event.get("requestContext", {}).get("requestId"))
        return app.resolve(event, context)

    return handle
