"""The resolver's edge (luxxon.api.http, luxxon.api.limits): who is asked first, and what no body can do to it.

Authentication comes before any look at the body; a body is bounded (64 KiB, nesting, strict JSON) and whatever it
holds is answered in the envelope (400 INVALID_INPUT naming the field, or `input:body`), never a 500.
"""

from __future__ import annotations

import json
import time

import psycopg
import pytest

from luxxon import wiring
from luxxon.api.limits import MAX_BODY_BYTES, MAX_JSON_DEPTH
from luxxon.routes import ROUTES, Route
from tests.conftest import Api, WorkspaceFactory
from tests.worst_json import WORST_BODIES

BODY_ROUTES = [r for r in ROUTES if r.module in {"functions.sessions.create", "functions.workspaces.update"}]
BODY_ROUTES += [r for r in ROUTES if r.module == "functions.api_keys.create"]
DEEP = "[" * 100_000 + "]" * 100_000
BAD_BODIES = {
    "malformed": "{not json",
    "wrong types": json.dumps({"lat": "north", "lng": [], "name": 5, "scopes": "all"}),
    "deeply nested": DEEP,
    "an integer of 5,000 digits": '{"lat": ' + "9" * 5_000 + ', "lng": 1}',
    "over 64 KiB": json.dumps({"lat": 1, "lng": 2}) + " " * MAX_BODY_BYTES,
    "NaN": '{"lat": NaN, "lng": 1}',
}


def ids(route: Route) -> str:
    return f"{route.method} {route.path}"


@pytest.mark.parametrize("route", BODY_ROUTES, ids=ids)
@pytest.mark.parametrize("label", sorted(BAD_BODIES))
def test_no_key_is_401_whatever_the_body(api: Api, route: Route, label: str) -> None:
    # Given no Authorization header, When the body is bad in any way
    reply = api(route.method, route.path, None, raw_body=BAD_BODIES[label])
    # Then the answer is about the missing key: the body was never looked at
    assert (reply.status, reply.error) == (401, ("NOT_AUTHENTICATED", "auth:missingBearer"))


def test_a_key_without_the_scope_is_403_before_its_body_is_validated(api: Api, workspace: WorkspaceFactory) -> None:
    caller = workspace("CONSUMER", scopes=["sessions:read"])
    reply = api("PATCH", "/api/v1/workspaces/me", caller.key, raw_body='{"availability": "BUSY"}')
    assert (reply.status, reply.error) == (403, ("NOT_AUTHORIZED", "scope:workspace:admin"))


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/api/v1/sessions"), ("PATCH", "/api/v1/workspaces/me"), ("POST", "/api/v1/api-keys")]
)
@pytest.mark.parametrize("depth", [100_000, 1_000, MAX_JSON_DEPTH + 1])
def test_deeply_nested_json_is_400_not_500(
    api: Api, workspace: WorkspaceFactory, method: str, path: str, depth: int
) -> None:
    body = '{"name": ' + "[" * depth + "]" * depth + "}"
    reply = api(method, path, workspace("CONSUMER", "SUPPLIER").key, raw_body=body)
    assert (reply.status, reply.error) == (400, ("INVALID_INPUT", "input:body"))


@pytest.mark.parametrize("name", WORST_BODIES)
def test_the_worst_bodies_at_the_size_cap_are_answered_in_milliseconds(
    api: Api, workspace: WorkspaceFactory, name: str
) -> None:
    # Given any key allowed to create sessions, When it sends a 64 KiB body built to be slow to parse
    key = workspace().key
    api("POST", "/api/v1/sessions", key, raw_body="{")  # warm: the handler's imports are not what is timed
    started = time.perf_counter()
    reply = api("POST", "/api/v1/sessions", key, raw_body=WORST_BODIES[name][0])
    elapsed = time.perf_counter() - started
    # Then it is refused at once (no body here is a session request; the quadratic scan took 13 s on the first ones)
    assert (reply.status, reply.error) == (400, ("INVALID_INPUT", "input:body"))
    assert elapsed < 0.5, f"{name}: {elapsed:.2f} s"
    assert api("GET", "/api/v1/sessions", key).data["items"] == []


def test_nesting_up_to_the_limit_reaches_validation(api: Api, workspace: WorkspaceFactory) -> None:
    nested = "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1)
    reply = api("PATCH", "/api/v1/workspaces/me", workspace().key, raw_body='{"name": ' + nested + "}")
    assert (reply.status, reply.error) == (400, ("INVALID_INPUT", "input:name"))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"lat": 1, "lng": 2, "maxDurationSeconds": ' + "9" * 5_000 + "}", "body"),  # past Python's parser limit
        ('{"lat": 1, "lng": 2, "maxDurationSeconds": ' + "9" * 4_000 + "}", "maxDurationSeconds"),
        ('{"lat": ' + "9" * 4_000 + ', "lng": 2}', "lat"),
        ('{"lat": 1e400, "lng": 2}', "lat"),
        ('{"lat": NaN, "lng": 2}', "body"),  # not JSON
        ('{"lat": -Infinity, "lng": 2}', "body"),
    ],
)
def test_numbers_no_field_can_hold_are_400_naming_the_field(
    api: Api, workspace: WorkspaceFactory, body: str, field: str
) -> None:
    reply = api("POST", "/api/v1/sessions", workspace().key, raw_body=body)
    assert (reply.status, reply.error) == (400, ("INVALID_INPUT", f"input:{field}"))


def test_a_body_over_64_kib_is_400_and_creates_nothing(api: Api, workspace: WorkspaceFactory) -> None:
    me = workspace()
    padded = json.dumps({"lat": 1, "lng": 2}).ljust(MAX_BODY_BYTES + 1)
    reply = api("POST", "/api/v1/sessions", me.key, raw_body=padded)
    assert (reply.status, reply.error) == (400, ("INVALID_INPUT", "input:body"))
    assert api("GET", "/api/v1/sessions", me.key).data["items"] == []


def test_a_body_of_exactly_64_kib_is_served(api: Api, workspace: WorkspaceFactory) -> None:
    padded = json.dumps({"lat": 1, "lng": 2}).ljust(MAX_BODY_BYTES)
    assert api("POST", "/api/v1/sessions", workspace().key, raw_body=padded).status == 201


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
def test_a_body_that_is_not_json_by_its_content_type_is_400(
    api: Api, workspace: WorkspaceFactory, content_type: str
) -> None:
    reply = api(
        "POST", "/api/v1/sessions", workspace().key, raw_body="lat=1&lng=2", headers={"content-type": content_type}
    )
    assert (reply.status, reply.error) == (400, ("INVALID_INPUT", "input:content-type"))


def test_a_route_without_a_body_ignores_one(api: Api, workspace: WorkspaceFactory) -> None:
    # The seeds' own accept example sends `-d '{}'`; a route that takes no body never parses what it is sent
    consumer, supplier = workspace("CONSUMER"), workspace("SUPPLIER")
    session_id = api("POST", "/api/v1/sessions", consumer.key, {"lat": 1, "lng": 1}).data["id"]
    reply = api("POST", f"/api/v1/sessions/{session_id}/accept", supplier.key, raw_body=DEEP)
    assert reply.status == 200, reply.body


@pytest.mark.parametrize("authorization", ["Bearer lxxn_é" + "a" * 42, "Bearer ключ", "Bearer \u0000", "é"])
def test_a_non_ascii_or_malformed_authorization_is_401(api: Api, authorization: str) -> None:
    reply = api("GET", "/api/v1/me", headers={"Authorization": authorization})
    assert reply.status == 401 and reply.error[0] == "NOT_AUTHENTICATED"


# -- bodies as API Gateway sends them (binaryMediaTypes */*: base64; as text: test_api_gateway_events.py) -------------


def test_a_base64_body_with_utf8_text_is_decoded_once(api: Api, workspace: WorkspaceFactory) -> None:
    reply = api("PATCH", "/api/v1/workspaces/me", workspace().key, {"name": "Café Bogotá ☕"})
    assert (reply.status, reply.data["name"]) == (200, "Café Bogotá ☕")


def test_a_body_that_is_not_valid_base64_is_400(workspace: WorkspaceFactory) -> None:
    from luxxon.local.gateway import build_event, invoke, match

    found = match("POST", "/api/v1/sessions")
    assert found is not None
    route, params = found
    headers = {"Authorization": f"Bearer {workspace().key}", "content-type": "application/json"}
    event = build_event(route, "POST", "/api/v1/sessions", params, "", headers, b"{}")
    event["body"] = "not base64!"
    result = invoke(route.module, event)
    body = json.loads(result["body"])
    assert (result["statusCode"], body["code"], body["detail"]) == (400, "INVALID_INPUT", "input:body")


@pytest.mark.parametrize(
    "error",
    [psycopg.OperationalError("server closed the connection unexpectedly"), psycopg.errors.QueryCanceled("timeout")],
)
def test_the_database_failing_after_authentication_is_503_not_500(
    api: Api, workspace: WorkspaceFactory, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    from luxxon import wiring

    me = workspace()

    def fail(*_: object) -> None:
        raise error

    monkeypatch.setattr(wiring.workspaces().store, "get_workspace", fail)
    reply = api("GET", "/api/v1/workspaces/me", me.key)
    assert (reply.status, reply.error) == (503, ("SERVICE_UNAVAILABLE", "db:unavailable"))


def test_a_committed_write_answers_its_success_when_the_token_key_cannot_be_read(
    api: Api, workspace: WorkspaceFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a deployment whose consistency-token key cannot be read (Secrets Manager down at its hourly refresh)
    me = workspace("CONSUMER")

    def unreadable() -> str:
        raise RuntimeError("secrets manager unreachable")

    monkeypatch.setattr(wiring, "consistency_key", unreadable)
    # When a write commits
    created = api("POST", "/api/v1/api-keys", me.key, {"name": "second", "scopes": ["sessions:read"]})
    # Then it answers its success, only without the token (not a 500 that would invite a duplicate retry)
    assert created.status == 201 and "x-lx-consistency-token" not in created.headers
    assert api("GET", "/api/v1/me", created.data["key"]).status == 200
