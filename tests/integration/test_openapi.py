"""The OpenAPI document: the seeds' operation ids, and each operation documenting exactly what it can answer.

The seeds' pages are the model (api-sessions-cancel-all-assignments.md: 200, 401 NOT_AUTHENTICATED, 403
NOT_AUTHORIZED/NOT_OPERATOR, 503 AUTHZ_ERROR, one example per code); codes this API adds (429 THROTTLED) appear where
they apply. Whether the API really answers only these is what the contract fuzz checks (test_contract.py).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from luxxon.api.consistency import PATTERN
from luxxon.api.openapi import document
from luxxon.routes import ROUTES, Route


def operation(route: Route) -> dict[str, Any]:
    op: dict[str, Any] = document()["paths"][route.path][route.method.lower()]
    return op


def route_of(module: str) -> Route:
    return next(r for r in ROUTES if r.module == "functions." + module)


# Every operation of the document and its id, written out (the seeds' ids; ours in their naming where they have none).
OPERATION_IDS = {
    ("GET", "/api/v1/health"): "LxHealthController_health",
    ("GET", "/api/v1/openapi.json"): "LxDocsController_openapi",
    ("GET", "/api/v1/docs"): "LxDocsController_docs",
    ("GET", "/api/v1/me"): "LxMeController_me",
    ("GET", "/api/v1/workspaces/me"): "LxWorkspacesController_getMine",
    ("PATCH", "/api/v1/workspaces/me"): "LxWorkspacesController_updateMine",
    ("GET", "/api/v1/api-keys"): "LxApiKeysController_list",
    ("POST", "/api/v1/api-keys"): "LxApiKeysController_create",
    ("DELETE", "/api/v1/api-keys/{id}"): "LxApiKeysController_revoke",
    ("POST", "/api/v1/sessions"): "LxSessionsController_create",
    ("GET", "/api/v1/sessions"): "LxSessionsController_list",
    ("GET", "/api/v1/sessions/inbox"): "LxSessionsController_inbox",
    ("POST", "/api/v1/sessions/cancel-all-assignments"): "LxSessionsController_cancelAllAssignments",
    ("GET", "/api/v1/sessions/{id}"): "LxSessionsController_get",
    ("DELETE", "/api/v1/sessions/{id}"): "LxSessionsController_cancel",
    ("POST", "/api/v1/sessions/{id}/accept"): "LxSessionsController_accept",
    ("POST", "/api/v1/sessions/{id}/end"): "LxSessionsController_end",
    ("POST", "/api/v1/sessions/{id}/start"): "LxSessionsController_start",
    ("GET", "/api/v1/sessions/{id}/viewer-token"): "LxSessionsController_viewerToken",
    ("GET", "/api/v1/sessions/{id}/producer-token"): "LxSessionsController_producerToken",
    ("GET", "/api/v1/sessions/{id}/frame"): "LxSessionsController_frame",
    ("GET", "/api/v1/pricing/rate"): "LxPricingController_rate",
    ("POST", "/api/v1/pricing/quotes"): "LxPricingController_createQuote",
    ("GET", "/api/v1/settlements/{sessionId}"): "LxSettlementsController_get",
    ("GET", "/api/v1/wallet"): "LxWalletController_get",
    ("POST", "/api/v1/webhooks/stream"): "LxWebhooksController_stream",
}


def operations() -> dict[tuple[str, str], dict[str, Any]]:
    """Every operation of the served document, by (METHOD, path)."""
    return {(method.upper(), path): op for path, ops in document()["paths"].items() for method, op in ops.items()}


def test_operation_ids_are_the_seeds(database_url: str) -> None:
    assert {key: op["operationId"] for key, op in operations().items()} == OPERATION_IDS


def test_lambda_names_do_not_follow_operation_ids() -> None:
    # Route.name is the stem of each Lambda's CDK logical id: renaming it would replace every function
    assert [r.name for r in ROUTES if r.module.startswith("functions.sessions.")][:4] == [
        "sessions-create",
        "sessions-list",
        "sessions-inbox",
        "sessions-cancel_all",
    ]


def _examples(response: dict[str, Any]) -> dict[str, Any]:
    examples: dict[str, Any] = response["content"]["application/json"]["examples"]
    return examples


# What the seeds' pages list, and what this API adds where it applies: THROTTLED (429) everywhere, SERVICE_UNAVAILABLE
# (503) where the handler reads the database, and for the POSTs that take an Idempotency-Key, IDEMPOTENCY_CONFLICT
# (409) and INVALID_INPUT (400, a malformed key).
ADDED = {"429": {"THROTTLED"}, "503": {"SERVICE_UNAVAILABLE"}}
IDEMPOTENT = {"400": {"INVALID_INPUT"}, "409": {"IDEMPOTENCY_CONFLICT"}}
SEEDS_CANCEL_ALL = {"401": {"NOT_AUTHENTICATED"}, "403": {"NOT_AUTHORIZED", "NOT_OPERATOR"}, "503": {"AUTHZ_ERROR"}}
SEEDS_CANCEL = {
    "401": {"NOT_AUTHENTICATED"},
    "403": {"NOT_AUTHORIZED"},
    "404": {"SESSION_NOT_FOUND"},
    "409": {"INVALID_STATE"},
    "503": {"AUTHZ_ERROR"},
}


def merged(*tables: dict[str, set[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for table in tables:
        for status, codes in table.items():
            out[status] = out.get(status, set()) | codes
    return out


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("sessions.cancel_all", merged(SEEDS_CANCEL_ALL, ADDED, IDEMPOTENT)),
        ("sessions.cancel", merged(SEEDS_CANCEL, ADDED)),
        (
            "sessions.create",
            merged({"400": {"INVALID_INPUT", "NO_WALLET", "INSUFFICIENT_CREDIT"}, "401": {"NOT_AUTHENTICATED"},
                    "403": {"NOT_AUTHORIZED"}, "503": {"AUTHZ_ERROR", "CHAIN_UNAVAILABLE"}}, ADDED, IDEMPOTENT),
        ),
        ("health.get", {"429": {"THROTTLED"}}),  # public, no database: only API Gateway's stage throttle
        ("me.get", merged({"401": {"NOT_AUTHENTICATED"}, "503": {"AUTHZ_ERROR"}}, ADDED)),  # any key, no scope
        (
            "sessions.start",
            merged({"401": {"NOT_AUTHENTICATED"}, "403": {"NOT_AUTHORIZED", "NOT_OPERATOR"},
                    "404": {"SESSION_NOT_FOUND"}, "409": {"INVALID_STATE"}, "502": {"VIDEO_BACKEND_ERROR"},
                    "503": {"AUTHZ_ERROR"}}, ADDED, IDEMPOTENT),
        ),
    ],
)  # fmt: skip
def test_an_operation_documents_exactly_the_errors_it_can_answer(
    database_url: str, module: str, expected: dict[str, set[str]]
) -> None:
    responses = operation(route_of(module))["responses"]
    errors = {status: set(_examples(r)) for status, r in responses.items() if not status.startswith("2")}
    assert errors == expected


# The seeds' error codes (and this API's additions) with the status and message every error envelope carries.
ENVELOPES = {
    "NOT_AUTHENTICATED": (401, "Session expired or missing"),
    "NOT_AUTHORIZED": (403, "Not authorized for this operation"),
    "NOT_OPERATOR": (403, "Caller is not an operator"),
    "AUTHZ_ERROR": (503, "Authorization service unavailable"),
    "SESSION_NOT_FOUND": (404, "Session not found"),
    "API_KEY_NOT_FOUND": (404, "API key not found"),
    "INVALID_STATE": (409, "Operation not allowed in the current state"),
    "INVALID_INPUT": (400, "Invalid request payload"),
    "INSUFFICIENT_CREDIT": (400, "Insufficient credit in the consumer pool"),
    "FRAME_NOT_AVAILABLE": (404, "Frame not available"),
    "THROTTLED": (429, "Too many requests"),
    "VIDEO_BACKEND_ERROR": (502, "Video backend unavailable"),
    "IDEMPOTENCY_CONFLICT": (409, "Idempotency key already used for another request"),
    "SERVICE_UNAVAILABLE": (503, "Service temporarily unavailable"),
    "SETTLEMENT_NOT_FOUND": (404, "The session has no settlement (it did not end metered)"),
    "WALLET_NOT_FOUND": (404, "The workspace has no wallet"),
    "NO_WALLET": (400, "The workspace needs a wallet for this operation"),
    "CHAIN_UNAVAILABLE": (503, "The chain is unreachable; retry"),
}


@pytest.mark.parametrize("key", sorted(OPERATION_IDS), ids=lambda k: f"{k[0]} {k[1]}")
def test_each_error_status_has_one_example_per_code_in_the_envelope(database_url: str, key: tuple[str, str]) -> None:
    responses = operations()[key]["responses"]
    assert "422" not in responses
    for status, response in responses.items():
        if status.startswith("2"):
            continue
        examples = _examples(response)
        assert examples and response["description"] == ", ".join(examples)
        for code, example in examples.items():
            status_code, message = ENVELOPES[code]
            assert example["summary"] == f"{code} — {message}"
            assert set(example["value"]) == {"statusCode", "code", "message", "detail", "timestamp"}
            assert (example["value"]["statusCode"], example["value"]["code"]) == (status_code, code)
            assert (int(status), example["value"]["message"]) == (status_code, message)
            assert re.fullmatch(r"[a-z][A-Za-z]*:\S+", example["value"]["detail"]), example["value"]["detail"]


def test_cancel_all_documents_each_error_as_the_api_writes_it(database_url: str) -> None:
    # The seeds' api-sessions-cancel-all-assignments.md, with this API's additions; the details are the ones the API
    # answers on this route (a malformed Idempotency-Key is its only bad input: it takes no body)
    responses = operations()[("POST", "/api/v1/sessions/cancel-all-assignments")]["responses"]
    details = {
        status: {code: example["value"]["detail"] for code, example in _examples(response).items()}
        for status, response in responses.items()
        if not status.startswith("2")
    }
    assert details == {
        "400": {"INVALID_INPUT": "input:Idempotency-Key"},
        "401": {"NOT_AUTHENTICATED": "auth:missingBearer"},
        "403": {"NOT_AUTHORIZED": "scope:sessions:operate", "NOT_OPERATOR": "session:notSupplier"},
        "409": {"IDEMPOTENCY_CONFLICT": "idempotency:keyReused"},
        "429": {"THROTTLED": "rate:workspace"},
        "503": {"AUTHZ_ERROR": "auth:storeUnavailable", "SERVICE_UNAVAILABLE": "db:unavailable"},
    }
    assert _examples(responses["403"])["NOT_OPERATOR"]["value"] == {
        "statusCode": 403,
        "code": "NOT_OPERATOR",
        "message": "Caller is not an operator",
        "detail": "session:notSupplier",
        "timestamp": "2026-05-13T12:00:00.000Z",
    }


def test_a_throttled_answer_documents_retry_after(database_url: str) -> None:
    throttled = operation(route_of("sessions.get"))["responses"]["429"]
    assert throttled["headers"]["Retry-After"]["schema"] == {"type": "integer", "minimum": 1}


MEDIA_TYPES = [("docs.page", "text/html"), ("sessions.frame", "image/jpeg"), ("me.get", "application/json")]


@pytest.mark.parametrize(("module", "media_type"), MEDIA_TYPES)
def test_the_success_response_declares_the_media_type_it_is_sent_with(
    database_url: str, module: str, media_type: str
) -> None:
    route = route_of(module)
    assert list(operation(route)["responses"][str(route.status)]["content"]) == [media_type]


def test_a_create_links_to_what_can_be_done_with_what_it_created(database_url: str) -> None:
    links = operation(route_of("sessions.create"))["responses"]["201"]["links"]
    assert links["LxSessionsController_accept"] == {
        "operationId": "LxSessionsController_accept",
        "parameters": {"id": "$response.body#/data/id"},
    }
    assert set(links) == {
        "LxSessionsController_get",
        "LxSessionsController_cancel",
        "LxSessionsController_accept",
        "LxSessionsController_end",
        "LxSessionsController_start",
        "LxSessionsController_viewerToken",
        "LxSessionsController_producerToken",
        "LxSessionsController_frame",
    }


def test_the_consistency_token_is_any_string_and_says_what_it_guarantees(database_url: str) -> None:
    (param,) = [p for p in operation(route_of("sessions.get"))["parameters"] if p["name"] == "x-lx-consistency-token"]
    assert param["schema"] == {"type": "string"}
    assert "carries no guarantee" in param["description"]
    # What a write answers is the sealed form only (no transaction counter), of one documented shape
    answered = operation(route_of("sessions.create"))["responses"]["201"]["headers"]["x-lx-consistency-token"]
    assert answered["schema"] == {"type": "string", "pattern": PATTERN}
    assert "opaque" in answered["description"]


def test_the_session_keeps_the_seeds_consumer_and_the_inbox_offers_do_not_name_it(database_url: str) -> None:
    schemas = document()["components"]["schemas"]
    # The seeds' LxSessionDto: consumerWorkspaceId a required string (the parties' view)
    assert schemas["LxSessionDto"]["properties"]["consumerWorkspaceId"]["type"] == "string"
    assert "consumerWorkspaceId" in schemas["LxSessionDto"]["required"]
    # The inbox answers offers, which name no workspace
    inbox = operation(route_of("sessions.inbox"))["responses"]["200"]["content"]["application/json"]["schema"]
    assert "Offer" in json.dumps(inbox)
    assert not {name for name in schemas["LxSessionOfferDto"]["properties"] if "Workspace" in name}


def test_the_posts_that_take_an_idempotency_key_declare_it(database_url: str) -> None:
    keyed = {key for key, op in operations().items() if "Idempotency-Key" in {p["name"] for p in op["parameters"]}}
    assert keyed == {
        ("POST", "/api/v1/api-keys"),
        ("POST", "/api/v1/pricing/quotes"),
        ("POST", "/api/v1/sessions"),
        ("POST", "/api/v1/sessions/cancel-all-assignments"),
        ("POST", "/api/v1/sessions/{id}/accept"),
        ("POST", "/api/v1/sessions/{id}/end"),
        ("POST", "/api/v1/sessions/{id}/start"),
    }
    # What a key may be (tests/integration/test_idempotency.py: anything else is 400 input:Idempotency-Key)
    (param,) = [p for p in operation(route_of("sessions.end"))["parameters"] if p["name"] == "Idempotency-Key"]
    assert (param["in"], param["required"]) == ("header", False)
    assert param["schema"] == {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"}
    created = operation(route_of("sessions.create"))["responses"]["201"]["headers"]
    assert set(created) == {"x-lx-consistency-token", "Idempotent-Replayed"}
    assert created["Idempotent-Replayed"]["schema"] == {"type": "string", "enum": ["true"]}


def test_every_post_that_acts_for_a_workspace_takes_an_idempotency_key() -> None:
    # README "Idempotency"; POST /webhooks/stream (no key: Cloudflare's) is deduplicated by the event's content instead
    posts = [route for route in ROUTES if route.method == "POST" and route.auth]
    assert posts and [route.path for route in posts if not route.idempotent] == []


def test_the_schema_says_what_the_api_enforces_on_cursors_and_quote_ids(database_url: str) -> None:
    # A cursor is opaque, but of a fixed shape: every string of the pattern is a position (tests/unit/test_cursors.py)
    for module, pattern in (("sessions.list", "^[A-Za-z0-9_-]{32}$"), ("wallet.get", "^[A-Za-z0-9_-]{16}$")):
        (cursor,) = [p for p in operation(route_of(module))["parameters"] if p["name"] == "cursor"]
        assert {"type": "string", "pattern": pattern} in cursor["schema"]["anyOf"], module
    # A quote id is a UUID (anything else is 400 input:quoteId; a UUID that names no quote of yours, quote:notFound)
    quote_id = document()["components"]["schemas"]["CreateSessionRequest"]["properties"]["quoteId"]
    assert {"type": "string", "format": "uuid"} in quote_id["anyOf"]


def test_no_operation_documents_405_and_the_document_says_what_every_path_answers(database_url: str) -> None:
    # 405 answers a method a path does not list, never one of its operations; the document says so once
    assert not [(path, method) for path, ops in document()["paths"].items() for method, op in ops.items()
                if "405" in op["responses"]]  # fmt: skip
    assert "405 `METHOD_NOT_ALLOWED`" in document()["info"]["description"]
