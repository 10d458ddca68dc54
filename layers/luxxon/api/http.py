"""One resolver factory for every handler: auth from the route table, then validation, every error in the envelope.

A handler module does:

    app, route = http.endpoint(__name__)

    @route
    def get_session(id: str) -> Response[LxSuccessResponseDto[LxSessionDto]]:
        return http.ok(wiring.sessions().get(http.principal(app), id))

    lambda_handler = http.lambda_handler(app)

A request goes through, in this order: authentication and the rate-limit budgets (one statement), the route's scopes,
the body's limits (luxxon.api.limits), then Powertools' validation of the typed parameters, then the handler. So a
request without a key is 401 whatever its body, and nothing is parsed for a caller who may not call.
"""

from __future__ import annotations

import binascii
import inspect
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, TypeVar, get_args, get_origin

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import OpenAPIRequestValidationMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from pydantic import BaseModel

from luxxon import wiring
from luxxon.api import consistency, limits, snapstart
from luxxon.api.gateway_errors import RETRY_AFTER
from luxxon.domain.identity import authenticate, authorize
from luxxon.domain.ports.workspaces import Principal
from luxxon.errors import ERRORS, ErrorCode, LxError, Throttled, invalid_input
from luxxon.models.base import LxErrorResponseDto, now_iso
from luxxon.observability import logger, metrics, traced
from luxxon.routes import DATABASE, JSON, Route, route_for

F = TypeVar("F", bound=Callable[..., Any])
CONSISTENCY_HEADER = "x-lx-consistency-token"
_TAGS = {
    "sessions": "Sessions",
    "me": "Me",
    "workspaces": "Workspaces",
    "api_keys": "API keys",
    "health": "Health",
    "docs": "Health",
    "webhooks": "Webhooks",
    "wallet": "Wallet",
    "pricing": "Pricing",
    "settlements": "Settlements",
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


def error_response(code: ErrorCode, detail: str | None, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(
        status_code=ERRORS[code][0],
        content_type=content_types.APPLICATION_JSON,
        body=error_body(code, detail),
        headers=headers,
    )


def ok(data: BaseModel, status: HTTPStatus = HTTPStatus.OK, token: str | None = None) -> Response[Any]:
    """The success envelope. `token` is the raw consistency token of the write that produced `data` (its transaction's
    id): the response carries it sealed (luxxon.api.consistency), so no platform-wide counter reaches a client.

    DTOs are validated when built, so the envelope is serialized once here (pydantic-core), not revalidated.
    """
    body = (
        f'{{"statusCode":{status.value},"message":"Request successful",'
        f'"data":{data.model_dump_json()},"timestamp":"{now_iso()}"}}'
    )
    headers = {CONSISTENCY_HEADER: sealed} if token and (sealed := _sealed(token)) else None
    return Response(status_code=status.value, content_type=content_types.APPLICATION_JSON, body=body, headers=headers)


def _sealed(token: str) -> str | None:
    """The write's token, sealed; None (no header) when the key cannot be read: the write has committed, so its answer
    must not turn into an error over a header that only routes later reads."""
    try:
        return consistency.issue(token)
    except Exception:
        logger.exception("consistency token not issued: the key could not be read")
        return None


def principal(app: APIGatewayRestResolver) -> Principal:
    who: Principal = app.context["principal"]
    return who


def _authenticated(authorization: str | None) -> Principal:
    import psycopg  # an authenticated route needs the database (luxxon.routes), so psycopg is loaded already

    try:
        return authenticate(authorization, wiring.workspace_store(), limits.budgets())
    except (psycopg.OperationalError, psycopg.InterfaceError):
        logger.exception("authorization store unavailable")
        raise LxError(ErrorCode.AUTHZ_ERROR, "auth:storeUnavailable") from None


def _check_body(app: APIGatewayRestResolver) -> None:
    """A JSON body within MAX_BODY_BYTES (its parsing is bounded by limits.parse_json, the resolver's parser)."""
    event = app.current_event
    content_type = (event.headers.get("content-type") or "").strip()
    if content_type and not content_type.startswith(JSON):  # what Powertools' validation reads as JSON
        raise invalid_input("content-type")
    limits.check_body_size(event.body, bool(event.is_base64_encoded))


def _middleware(route: Route, takes_body: bool) -> Callable[[APIGatewayRestResolver, NextMiddleware], Response[Any]]:
    """Authentication and the rate-limit budgets, then the route's scopes, then the body's limits."""

    def check_request(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
        if route.auth:
            who = _authenticated(app.current_event.headers.get("authorization"))
            authorize(who, route.scopes)
            app.append_context(principal=who)
        if takes_body:
            _check_body(app)
        return next_middleware(app)

    return check_request


def _field_of(error: dict[str, Any]) -> str:
    """The field a validation error names, dotted: `coverageArea.coordinates` (no list indexes, no locations).

    API fields are camelCase; a capitalized part of an error's location is the tag of a discriminated union (the
    GeoJSON type), not a field, so it is left out too.
    """
    loc = [part for part in error.get("loc", ()) if isinstance(part, str)]
    loc = [part for part in loc if part not in ("body", "query", "path", "header") and not part[:1].isupper()]
    return ".".join(loc) or "body"


def new_resolver(database: bool = True) -> APIGatewayRestResolver:
    """A resolver answering every error in the envelope; `database`: the route reaches PostgreSQL (its failures are
    503), else psycopg is never imported (/health, the docs)."""
    # Validation is on, as one of our middlewares (endpoint): Powertools' own placement would run it before
    # authentication. The JSON parser is ours: strict, bounded, never a crash.
    app = APIGatewayRestResolver(enable_validation=False, json_body_deserializer=limits.parse_json)

    @app.exception_handler(LxError)
    def _lx_error(error: LxError) -> Response[Any]:
        headers = {RETRY_AFTER: str(error.retry_after_s)} if isinstance(error, Throttled) else None
        return error_response(error.code, error.detail, headers)

    @app.exception_handler(RequestValidationError)
    def _invalid(error: RequestValidationError) -> Response[Any]:
        errors = error.errors()
        field_name = _field_of(errors[0]) if errors else "body"
        return error_response(ErrorCode.INVALID_INPUT, f"input:{field_name}")

    @app.exception_handler(UnicodeDecodeError)
    def _not_utf8(error: UnicodeDecodeError) -> Response[Any]:
        return error_response(ErrorCode.INVALID_INPUT, "input:body")

    if database:
        import psycopg

        @app.exception_handler([psycopg.OperationalError, psycopg.InterfaceError])
        def _database_unavailable(error: Exception) -> Response[Any]:
            # The database went away, or a statement or lock timeout fired, after authentication: nothing a retry
            # later could not fix, so 503 in the envelope rather than a crash (a 500).
            logger.exception("database unavailable")
            return error_response(ErrorCode.SERVICE_UNAVAILABLE, "db:unavailable")

    @app.exception_handler(binascii.Error)
    def _not_base64(error: binascii.Error) -> Response[Any]:
        return error_response(ErrorCode.INVALID_INPUT, "input:body")

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response[Any]:
        logger.exception("unhandled error")
        return error_response(ErrorCode.INTERNAL_ERROR, "internal:unexpected")

    @app.not_found
    def _not_found(_: Exception) -> Response[Any]:
        return error_response(ErrorCode.ROUTE_NOT_FOUND, "route:notFound")

    return app


# -- the OpenAPI description of each operation (luxxon.api.openapi serves the document) ---------------------------

E = ErrorCode
# An example `detail` per code, as the API really writes it.
_EXAMPLE_DETAIL: dict[ErrorCode, str] = {
    E.NOT_AUTHENTICATED: "auth:missingBearer",
    E.NOT_OPERATOR: "session:notSupplier",
    E.AUTHZ_ERROR: "auth:storeUnavailable",
    E.SESSION_NOT_FOUND: "session:notFound",
    E.API_KEY_NOT_FOUND: "apiKey:notFound",
    E.ROUTE_NOT_FOUND: "route:notFound",
    E.METHOD_NOT_ALLOWED: "route:methodNotAllowed",
    E.INVALID_INPUT: "input:body",
    E.INSUFFICIENT_CREDIT: "credit:insufficient",
    E.FRAME_NOT_AVAILABLE: "frame:ASSIGNED",
    E.THROTTLED: "rate:workspace",
    E.VIDEO_BACKEND_ERROR: "video:createLiveInput",
    E.IDEMPOTENCY_CONFLICT: "idempotency:keyReused",
    E.SERVICE_UNAVAILABLE: "db:unavailable",
    E.INTERNAL_ERROR: "internal:unexpected",
    E.SETTLEMENT_NOT_FOUND: "settlement:notFound",
    E.WALLET_NOT_FOUND: "wallet:notFound",
    E.NO_WALLET: "wallet:none",
    E.CHAIN_UNAVAILABLE: "chain:unreachable",
}
# The state an INVALID_STATE example names, per operation.
_EXAMPLE_STATE = {"accept": "ASSIGNED", "cancel": "LIVE", "end": "ASSIGNED", "start": "ENDED"}
_ORDER = {code: i for i, code in enumerate(ErrorCode)}
_EXAMPLE_TIME = "2026-05-13T12:00:00.000Z"


def documented_errors(route: Route) -> list[ErrorCode]:
    """Every error code the route can answer: its row's, the resolver's for its kind, and the stage's THROTTLED."""
    codes = set(route.errors) | {E.THROTTLED}  # the stage throttle and the per-address edge limit: 429 on any route
    if route.auth:
        codes |= {E.NOT_AUTHENTICATED, E.AUTHZ_ERROR}
    if route.scopes:
        codes.add(E.NOT_AUTHORIZED)
    if DATABASE in route.needs:
        codes.add(E.SERVICE_UNAVAILABLE)  # the database failed (or timed out) after authentication
    if route.idempotent:
        codes |= {E.IDEMPOTENCY_CONFLICT, E.INVALID_INPUT}  # a key reused for another request; a malformed key
    return sorted(codes, key=lambda code: (ERRORS[code][0], _ORDER[code]))


def _example_detail(route: Route, code: ErrorCode) -> str:
    if code is E.NOT_AUTHORIZED:
        return "scope:" + "|".join(route.scopes) if route.scopes else "auth:accessDenied"
    if code is E.INVALID_STATE:
        return f"session:{route.action}:{_EXAMPLE_STATE.get(route.action, 'ASSIGNED')}"
    if code is E.NOT_AUTHENTICATED and not route.auth:
        return "webhook:badSignature"
    if code is E.THROTTLED and not route.auth:
        return "rate:throttled"
    if code is E.INVALID_INPUT and route.idempotent and code not in route.errors:
        return "input:Idempotency-Key"  # the route's only input that can be malformed is its key
    return _EXAMPLE_DETAIL[code]


def _error_responses(route: Route, codes: Iterable[ErrorCode]) -> dict[int, Any]:
    by_status: dict[int, list[ErrorCode]] = {}
    for code in codes:
        by_status.setdefault(ERRORS[code][0], []).append(code)
    responses: dict[int, Any] = {}
    for status, group in by_status.items():
        examples = {
            code.value: {
                "summary": f"{code.value} — {ERRORS[code][1]}",
                "value": {
                    "statusCode": status,
                    "code": code.value,
                    "message": ERRORS[code][1],
                    "detail": _example_detail(route, code),
                    "timestamp": _EXAMPLE_TIME,
                },
            }
            for code in group
        }
        response: dict[str, Any] = {
            "description": ", ".join(code.value for code in group),
            "content": {JSON: {"model": LxErrorResponseDto, "examples": examples}},
        }
        if status == HTTPStatus.TOO_MANY_REQUESTS:
            response["headers"] = {
                RETRY_AFTER: {
                    "description": "Whole seconds to wait: until both budgets, the key's and its workspace's, allow a "
                    "request (rate:workspace, rate:key; a refused request spends nothing, so waiting that long is "
                    "enough unless the workspace's other keys spend its budget meanwhile), or, over the per-address "
                    "edge limit (rate:client), a window without requests. Absent when the stage's own throttle "
                    "answered.",
                    "schema": {"type": "integer", "minimum": 1},
                }
            }
        responses[status] = response
    return responses


def _success_response(route: Route, func: Callable[..., Any]) -> dict[str, Any]:
    """The documented success: `-> Response[Model]` for JSON envelopes, the row's media type otherwise."""
    response: dict[str, Any] = {"description": "Request successful"}
    annotation = inspect.signature(func, eval_str=True).return_annotation
    args = get_args(annotation)
    if route.produces != JSON:
        binary = not route.produces.startswith("text/")
        schema = {"type": "string", "format": "binary"} if binary else {"type": "string"}
        response["content"] = {route.produces: {"schema": schema}}
    elif get_origin(annotation) is Response and args and isinstance(args[0], type) and issubclass(args[0], BaseModel):
        response["content"] = {JSON: {"model": args[0]}}
    else:
        response["content"] = {JSON: {"schema": {"type": "object"}}}
    if route.method != "GET":
        response["headers"] = {
            CONSISTENCY_HEADER: {
                "description": "An opaque token naming the transaction that made this write (sealed: it shows no "
                "counter, no order). Send it back on a read to observe this write (read-your-writes). An idempotent "
                "replay carries the first response's token.",
                "schema": {"type": "string", "pattern": consistency.PATTERN},
            }
        }
    return response


def _created_links(route: Route) -> dict[str, Any]:
    """A create (201 at a collection) links to every operation on the item it created (`/collection/{id}...`)."""
    from luxxon.routes import ROUTES

    if route.status != HTTPStatus.CREATED:
        return {}
    return {
        other.operation_id: {
            "operationId": other.operation_id,
            "parameters": {"id": "$response.body#/data/id"},
        }
        for other in ROUTES
        if other.path.startswith(route.path + "/{id}")
    }


def endpoint(module: str) -> tuple[APIGatewayRestResolver, Callable[[F], F]]:
    """The resolver of a handler module and the decorator that registers its one route from the table."""
    route = route_for(module)
    snapstart.register(route)  # Lambda SnapStart hooks (a no-op outside Lambda)
    app = new_resolver(DATABASE in route.needs)

    def register(func: F) -> F:
        doc = (func.__doc__ or "").strip()
        summary, _, description = doc.partition("\n")
        success = _success_response(route, func)
        links = _created_links(route)
        if links:
            success["links"] = links
        options: dict[str, Any] = {
            "summary": summary.strip() or None,
            "description": description.strip() or None,
            "operation_id": route.operation_id,
            "tags": [_TAGS[route.module.split(".")[1]]],
            "responses": {route.status: success, **_error_responses(route, documented_errors(route))},
        }
        if route.auth:
            options["security"] = [{"access-token": []}]
        # The return annotation documents the response; it is not re-validated at run time (see `ok`).
        func.__signature__ = inspect.signature(func).replace(return_annotation=inspect.Signature.empty)  # type: ignore[attr-defined]
        takes_body = "body" in inspect.signature(func).parameters
        app.use(middlewares=[_middleware(route, takes_body), OpenAPIRequestValidationMiddleware()])
        ENDPOINTS[module] = Endpoint(route, func, options)
        # HEAD is GET without the body, which the gateway drops (luxxon.routes.RESOURCES): the same route, status and
        # headers. The OpenAPI document (luxxon.api.openapi) registers the row's method alone.
        methods = [route.method, "HEAD"] if route.method == "GET" else [route.method]
        app.route(route.powertools_rule, methods, **options)(func)
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
