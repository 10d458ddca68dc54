"""Who may call what: every route of the table against every kind of caller."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from luxxon import wiring
from luxxon.routes import ROUTES, SCOPES, Route
from tests.conftest import Api, Workspace, WorkspaceFactory

AUTH_ROUTES = [r for r in ROUTES if r.auth]
ALL_SCOPES = list(SCOPES)
SAMPLE_ID = "00000000-0000-4000-8000-000000000000"
BODIES = {
    "functions.sessions.create": {"lat": 1.0, "lng": 2.0},
    "functions.api_keys.create": {"name": "ci", "scopes": ["sessions:read"]},
    "functions.workspaces.update": {"name": "renamed"},
}


def path_of(route: Route, session_id: str = SAMPLE_ID) -> str:
    return route.path.replace("{id}", session_id)


def ids(route: Route) -> str:
    return f"{route.method} {route.path}"


@pytest.mark.parametrize("route", AUTH_ROUTES, ids=ids)
def test_no_key_is_not_authenticated(api: Api, route: Route) -> None:
    reply = api(route.method, path_of(route), None, BODIES.get(route.module))
    assert (reply.status, reply.error) == (401, ("NOT_AUTHENTICATED", "auth:missingBearer"))


@pytest.mark.parametrize("route", AUTH_ROUTES, ids=ids)
@pytest.mark.parametrize(
    ("authorization", "detail"),
    [
        ("Basic abc", "auth:malformedBearer"),
        ("Bearer lxxn_short", "auth:malformedKey"),
        ("Bearer eyJ.x.y", "auth:malformedKey"),
    ],
)
def test_a_malformed_key_is_not_authenticated(api: Api, route: Route, authorization: str, detail: str) -> None:
    reply = api(route.method, path_of(route), None, BODIES.get(route.module), headers={"Authorization": authorization})
    assert (reply.status, reply.error) == (401, ("NOT_AUTHENTICATED", detail))


@pytest.mark.parametrize("route", AUTH_ROUTES, ids=ids)
def test_an_unknown_well_formed_key_is_not_authenticated(api: Api, route: Route) -> None:
    reply = api(route.method, path_of(route), "lxxn_" + "A" * 43, BODIES.get(route.module))
    assert (reply.status, reply.error) == (401, ("NOT_AUTHENTICATED", "auth:unknownOrRevokedKey"))


@pytest.mark.parametrize("route", AUTH_ROUTES, ids=ids)
def test_a_revoked_key_fails_on_the_next_request(api: Api, workspace: WorkspaceFactory, route: Route) -> None:
    admin = workspace("CONSUMER", "SUPPLIER", scopes=ALL_SCOPES)
    victim = api("POST", "/api/v1/api-keys", admin.key, {"name": "soon revoked", "scopes": ALL_SCOPES}).data
    assert api("GET", "/api/v1/me", victim["key"]).status == 200
    assert api("DELETE", f"/api/v1/api-keys/{victim['id']}", admin.key).status == 200
    reply = api(route.method, path_of(route), victim["key"], BODIES.get(route.module))
    assert (reply.status, reply.error) == (401, ("NOT_AUTHENTICATED", "auth:unknownOrRevokedKey"))


@pytest.mark.parametrize("route", [r for r in AUTH_ROUTES if r.scopes], ids=ids)
def test_a_key_without_the_routes_scope_is_not_authorized(api: Api, workspace: WorkspaceFactory, route: Route) -> None:
    other_scopes = [s for s in ALL_SCOPES if s not in route.scopes]
    caller = workspace("CONSUMER", "SUPPLIER", scopes=other_scopes)
    reply = api(route.method, path_of(route), caller.key, BODIES.get(route.module))
    assert reply.status == 403
    assert reply.error == ("NOT_AUTHORIZED", "scope:" + "|".join(route.scopes))


def test_public_routes_need_no_key(api: Api) -> None:
    for route in (r for r in ROUTES if not r.auth and not r.module.startswith("functions.webhooks")):
        assert api(route.method, route.path).status == 200, route


# --- the parties of one session ---------------------------------------------------------------------------------------

Setup = Callable[[Api, Workspace, Workspace], str]


def requested(api: Api, consumer: Workspace, operator: Workspace) -> str:
    return api("POST", "/api/v1/sessions", consumer.key, {"lat": 1.0, "lng": 2.0}).data["id"]


def assigned(api: Api, consumer: Workspace, operator: Workspace) -> str:
    session_id = requested(api, consumer, operator)
    assert api("POST", f"/api/v1/sessions/{session_id}/accept", operator.key).status == 200
    return session_id


def live(api: Api, consumer: Workspace, operator: Workspace) -> str:
    session_id = assigned(api, consumer, operator)
    wiring.sessions().go_live(session_id, datetime.now(UTC))
    return session_id


# route module -> (session setup, expected status for the consumer, the operator, a stranger)
PARTIES: dict[str, tuple[Setup, int, int, int]] = {
    "functions.sessions.get": (assigned, 200, 200, 404),
    "functions.sessions.cancel": (assigned, 200, 403, 404),
    "functions.sessions.accept": (requested, 403, 200, 200),
    "functions.sessions.end": (live, 200, 200, 404),
}
# Routes whose party rules need the video plane: tested in test_video_api.py.
VIDEO_ROUTES = {
    "functions.sessions.start",
    "functions.sessions.viewer_token",
    "functions.sessions.producer_token",
    "functions.sessions.frame",
}


def test_every_session_route_has_a_row_in_the_party_table() -> None:
    session_routes = {r.module for r in ROUTES if "{id}" in r.path and r.module.startswith("functions.sessions")}
    assert session_routes == set(PARTIES) | VIDEO_ROUTES


@pytest.mark.parametrize("module", sorted(PARTIES))
@pytest.mark.parametrize("party", ["consumer", "operator", "stranger"])
def test_session_routes_by_party(api: Api, workspace: WorkspaceFactory, module: str, party: str) -> None:
    setup, *expected = PARTIES[module]
    consumer = workspace("CONSUMER", "SUPPLIER", scopes=ALL_SCOPES)
    operator = workspace("SUPPLIER", scopes=ALL_SCOPES)
    stranger = workspace("CONSUMER", "SUPPLIER", scopes=ALL_SCOPES)
    session_id = setup(api, consumer, operator)
    caller = {"consumer": consumer, "operator": operator, "stranger": stranger}[party]
    route = next(r for r in ROUTES if r.module == module)
    reply = api(route.method, path_of(route, session_id), caller.key)
    assert reply.status == expected[["consumer", "operator", "stranger"].index(party)], reply.body


def test_whip_url_never_reaches_the_consumer(api: Api, workspace: WorkspaceFactory, database_url: str) -> None:
    import psycopg

    consumer, operator = workspace("CONSUMER"), workspace("SUPPLIER")
    session_id = assigned(api, consumer, operator)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE sessions SET whip_url = 'https://edge/secret/publish', whep_url = 'https://edge/play'"
            " WHERE id = %s",
            (session_id,),
        )
    as_consumer = api("GET", f"/api/v1/sessions/{session_id}", consumer.key).data
    as_operator = api("GET", f"/api/v1/sessions/{session_id}", operator.key).data
    assert (as_consumer["whipUrl"], as_consumer["whepUrl"]) == (None, None)  # WHEP only once LIVE (seeds)
    assert as_operator["whipUrl"] == "https://edge/secret/publish"
    listed = api("GET", "/api/v1/sessions", consumer.key).data["items"]
    assert all(item["whipUrl"] is None for item in listed)
