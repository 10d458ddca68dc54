"""The `Idempotency-Key` header of a POST, and the response of a write (marked when it is a replay)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from pydantic import BaseModel

from luxxon.api import http
from luxxon.domain.idempotency import IdempotencyKey
from luxxon.domain.results import Written
from luxxon.errors import invalid_input

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


def key_of(app: APIGatewayRestResolver, body: BaseModel | None = None) -> IdempotencyKey | None:
    """The request's idempotency key (None without the header): scoped to the caller's workspace, fingerprinted
    with the method, the path and the validated body (so formatting differences are the same request)."""
    event = app.current_event
    raw = next((v for k, v in (event.headers or {}).items() if k.lower() == HEADER.lower()), None)
    if raw is None:
        return None
    if not 1 <= len(raw) <= 255 or not raw.isascii() or not raw.isprintable():
        raise invalid_input(HEADER)
    canonical = body.model_dump_json() if body is not None else ""
    return IdempotencyKey.of(http.principal(app).workspace_id, raw, event.http_method, event.path, canonical)


def respond(written: Written[Any], status: HTTPStatus = HTTPStatus.OK) -> Response[Any]:
    """The success envelope of a write; a replay says so (`Idempotent-Replayed: true`)."""
    response = http.ok(written.value, status, written.token)
    if written.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    return response
