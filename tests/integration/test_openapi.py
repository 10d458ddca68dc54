"""The OpenAPI document: the seeds' operation ids, and each operation documenting exactly what it can answer.

The seeds' pages are the model (api-sessions-cancel-all-assignments.md: 200, 401 NOT_AUTHENTICATED, 403
NOT_AUTHORIZED/NOT_OPERATOR, 503 AUTHZ_ERROR, one example per code); codes this API adds (429 THROTTLED) appear where
they apply. Whether the API really answers only these is what the contract fuzz checks (test_contract.py).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from luxxon.api.consistency import PATTERN
from luxxon.api.http import documented_errors
from luxxon.api.openapi import document
from luxxon.domain.cursors import EVENT_CURSOR_PATTERN, SESSION_CURSOR_PATTERN
from luxxon.errors import ERRORS, ErrorCode
from luxxon.routes import ROUTES, Route


def operation(route: Route) -> dict[str, Any]:
    op: dict[str, Any] = document()["paths"][route.path][route.method.lower()]
    return op


def route_of(module: str) -> Route:
    return next(r for r in ROUTES if r.module == "functions." + module)


def test_operation_ids_are_the_seeds(database_url: str) -> None:
    assert operation(route_of("sessions.cancel"))["operationId"] == "LxSessionsController_cancel"
    assert operation(route_of("sessions.cancel_all"))["operationId"] == "LxSessionsController_cancelAllAssignments"
    ids = [operation(r)["operationId"] for r in ROUTES]
    assert len(set(ids)) == len(ROUTES)
    assert all(re.fullmatch(r"Lx[A-Z][A-Za-z]+Controller_[a-z][A-Za-z]+", i) for i in ids), ids


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


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_each_error_status_has_one_example_per_code_in_the_envelope(database_url: str, route: Route) -> None:
    responses = operation(route)["responses"]
    documented = {code.value for code in documented_errors(route)}
    seen = set()
    for status, response in responses.items():
        if status.startswith("2"):
            continue
        examples = _examples(response)
        assert response["description"] == ", ".join(examples)
        for code, example in examples.items():
            status_code, message = ERRORS[ErrorCode(code)]
            assert example["summary"] == f"{code} — {message}"
            assert example["value"]["statusCode"] == status_code == int(status)
            assert (example["value"]["code"], example["value"]["message"]) == (code, message)
            assert example["value"]["detail"]
            seen.add(code)
    assert seen == documented
    assert "422" not in responses


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
    assert set(links) == {r.operation_id for r in ROUTES if r.path.startswith("/api/v1/sessions/{id}")}


def test_the_consistency_token_is_any_string_and_says_what_it_guarantees(database_url: str) -> None:
    (param,) = [p for p in operation(route_of("sessions.get"))["parameters"] if p["name"] == "x-lx-consistency-token"]
    assert param["schema"] == {"type": "string"}
    assert "carries no guarantee" in param["description"]
    # What a write answers is the sealed form only (no transaction counter), of one documented shape
    answered = operation(route_of("sessions.create"))["responses"]["201"]["headers"]["x-lx-consistency-token"]
    assert answered["schema"] == {"type": "string", "pattern": PATTERN}
    assert "opaque" in answered["description"]


def test_the_session_says_who_sees_the_consumer(database_url: str) -> None:
    field = document()["components"]["schemas"]["LxSessionDto"]["properties"]["consumerWorkspaceId"]
    assert {"type": "null"} in field["anyOf"] and "inbox" in field["description"]
    assert "consumerWorkspaceId" in document()["components"]["schemas"]["LxSessionDto"]["required"]


def test_the_posts_that_take_an_idempotency_key_declare_it(database_url: str) -> None:
    for route in ROUTES:
        names = {p["name"] for p in operation(route)["parameters"]}
        assert ("Idempotency-Key" in names) == route.idempotent, route
    created = operation(route_of("sessions.create"))["responses"]["201"]["headers"]
    assert set(created) == {"x-lx-consistency-token", "Idempotent-Replayed"}


def test_every_post_that_acts_for_a_workspace_takes_an_idempotency_key() -> None:
    # README "Idempotency"; POST /webhooks/stream (no key: Cloudflare's) is deduplicated by the event's content instead
    posts = [route for route in ROUTES if route.method == "POST" and route.auth]
    assert posts and [route.path for route in posts if not route.idempotent] == []


def test_the_schema_says_what_the_api_enforces_on_cursors_and_quote_ids(database_url: str) -> None:
    # A cursor is opaque, but of a fixed shape: every string of the pattern is a position (tests/unit/test_cursors.py)
    for module, pattern in (("sessions.list", SESSION_CURSOR_PATTERN), ("wallet.get", EVENT_CURSOR_PATTERN)):
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
