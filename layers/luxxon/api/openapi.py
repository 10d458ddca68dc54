"""The OpenAPI document, generated from the handlers themselves (every route of the table, as registered)."""

from __future__ import annotations

import json
from functools import cache
from importlib import import_module
from typing import Any

from luxxon.api import http
from luxxon.routes import API_PREFIX, ROUTES

TITLE = "Luxxon API"
VERSION = "0.1.0"
# What every path answers besides its operations (API Gateway answers them: luxxon.api.gateway_errors).
DESCRIPTION = (
    "Programmable vision — on-demand live video feeds.\n\n"
    "Every path also answers `HEAD` wherever it answers `GET` (the same status and headers, no body) and `OPTIONS` "
    "(204 with `Allow`); any other method it does not list is 405 `METHOD_NOT_ALLOWED` in the error envelope, with "
    "`Allow`. A path not listed here is 404 `ROUTE_NOT_FOUND`."
)
_TAGS = {
    "Me": "Identity self-introspection — wallet or API key.",
    "Workspaces": "Tenant root. Coverage area, availability, members.",
    "API keys": "Per-workspace scoped credentials (lxxn_*).",
    "Sessions": "Visual session lifecycle: request → dispatch → authorize → start → end.",
    "Pricing": "Live rate + optional pre-quoted rate lock.",
    "Wallet": "On-chain wallet state and event log for a workspace.",
    "Settlements": "On-chain settlement view per session.",
    "Health": "Proof-of-life. No auth.",
    "Webhooks": "Inbound video events from Cloudflare Stream. Internal.",
}
_CONSISTENCY_PARAM = {
    "name": http.CONSISTENCY_HEADER,
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": "The opaque token a write returned (its transaction, sealed under this deployment's key). A request "
    "carrying it observes that write (read-your-writes): today every read is served by the primary database, which has "
    "every committed write; once reads are served by a replica, a read carrying a token goes to the replica only when "
    "it has that write, else to the primary. Any string is accepted: a token this API did not issue carries no "
    "guarantee (and is no error).",
}
_IDEMPOTENCY_PARAM = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
    "description": "Makes a retry safe: the same key from the same workspace with the same request replays the first "
    "response (`Idempotent-Replayed: true`) for 24 h; with another request it is 409 IDEMPOTENCY_CONFLICT. A refusal "
    "that changed nothing is not kept. Printable ASCII, 1 to 255 characters. (POST /api-keys keeps no secret, so a "
    "retry there is 409 `idempotency:secretNotReplayable`: list the keys to find it by name.)",
}
_REPLAYED_HEADER = {
    "description": "`true` when this response is the replay of an earlier request with the same Idempotency-Key.",
    "schema": {"type": "string", "enum": ["true"]},
}


@cache
def document() -> dict[str, Any]:
    """Built on the first request (it imports every handler module), then kept for the sandbox's life."""
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer, Server, Tag

    api = http.new_resolver(database=False)  # a document: nothing here reaches the database
    for route in ROUTES:
        import_module(route.module)
        endpoint = http.ENDPOINTS[route.module]
        api.route(route.powertools_rule, route.method, **endpoint.options)(endpoint.func)
    raw = api.get_openapi_json_schema(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        servers=[Server(url="/")],
        tags=[Tag(name=name, description=text) for name, text in _TAGS.items()],
        security_schemes={"access-token": HTTPBearer(scheme="bearer", bearerFormat="JWT or lxxn_*")},
    )
    doc: dict[str, Any] = json.loads(raw)
    idempotent = {(route.path, route.method.lower()): route for route in ROUTES if route.idempotent}
    for path, operations in doc["paths"].items():
        assert path.startswith(API_PREFIX)
        for method, operation in operations.items():
            operation["responses"].pop("422", None)  # validation errors are 400 INVALID_INPUT in the envelope
            parameters = operation.setdefault("parameters", [])
            parameters.append(_CONSISTENCY_PARAM)
            replayable = idempotent.get((path, method))
            if replayable is not None:  # luxxon.api.idempotency reads the header itself, so it is declared here
                parameters.append(_IDEMPOTENCY_PARAM)
                success = operation["responses"][str(replayable.status)]
                success.setdefault("headers", {})["Idempotent-Replayed"] = _REPLAYED_HEADER
    return doc
