"""The OpenAPI document, generated from the handlers themselves (every route of the table, as registered)."""

from __future__ import annotations

import json
from functools import cache
from importlib import import_module
from typing import Any

from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer, Server, Tag

from luxxon.api import http
from luxxon.routes import API_PREFIX, ROUTES

TITLE = "Luxxon API"
VERSION = "0.1.0"
_TAGS: list[Tag | str] = [
    Tag(name="Me", description="Identity self-introspection — wallet or API key."),
    Tag(name="Workspaces", description="Tenant root. Coverage area, availability, members."),
    Tag(name="API keys", description="Per-workspace scoped credentials (lxxn_*)."),
    Tag(name="Sessions", description="Visual session lifecycle: request → dispatch → authorize → start → end."),
    Tag(name="Health", description="Proof-of-life. No auth."),
    Tag(name="Webhooks", description="Inbound video events from Cloudflare Stream. Internal."),
]
_CONSISTENCY_PARAM = {
    "name": http.CONSISTENCY_HEADER,
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": "The token a write returned (the id of its transaction). A request carrying it observes that write "
    "(read-your-writes). Any string is accepted: a token this API did not issue carries no guarantee.",
}


@cache
def document() -> dict[str, Any]:
    api = http.new_resolver()
    for route in ROUTES:
        import_module(route.module)
        endpoint = http.ENDPOINTS[route.module]
        api.route(route.powertools_rule, route.method, **endpoint.options)(endpoint.func)
    raw = api.get_openapi_json_schema(
        title=TITLE,
        version=VERSION,
        description="Programmable vision — on-demand live video feeds",
        servers=[Server(url="/")],
        tags=_TAGS,
        security_schemes={"access-token": HTTPBearer(scheme="bearer", bearerFormat="JWT or lxxn_*")},
    )
    doc: dict[str, Any] = json.loads(raw)
    for path, operations in doc["paths"].items():
        assert path.startswith(API_PREFIX)
        for operation in operations.values():
            operation["responses"].pop("422", None)  # validation errors are 400 INVALID_INPUT in the envelope
            operation.setdefault("parameters", []).append(_CONSISTENCY_PARAM)
    return doc
