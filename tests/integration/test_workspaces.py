"""Workspaces, API keys and /me."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import subprocess
import sys

import psycopg
import pytest

from luxxon import wiring
from luxxon.api.consistency import PATTERN, open_token
from luxxon.config import get_settings
from luxxon.db import connection
from luxxon.models.identity import MAX_COVERAGE_RADIUS_M, MAX_POLYGONS, MAX_POSITIONS, MAX_RINGS
from tests.conftest import ROOT, Api, WorkspaceFactory, unique_place

TOKEN = "x-lx-consistency-token"


def square(lat: float, lng: float, half: float) -> dict:
    """A GeoJSON square of side 2 × `half` degrees centred on (lat, lng)."""
    ring = [[lng - half, lat - half], [lng + half, lat - half], [lng + half, lat + half], [lng - half, lat + half]]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def test_me_names_the_workspace_and_the_key(api: Api, workspace: WorkspaceFactory) -> None:
    me = workspace("CONSUMER")
    data = api("GET", "/api/v1/me", me.key).data
    assert data["authType"] == "apiKey"
    assert data["workspace"]["id"] == me.id
    assert data["apiKey"]["id"] == me.key_id
    assert data["apiKey"]["prefix"] == me.key[:12]
    assert "key" not in data["apiKey"]


def test_me_without_workspace_read_shows_no_workspace_details(api: Api, workspace: WorkspaceFactory) -> None:
    # Given a key that may only read sessions (no workspace:read, no workspace:admin)
    me = workspace("CONSUMER", scopes=["sessions:read"])
    data = api("GET", "/api/v1/me", me.key).data
    # Then /me names the workspace by id and the key itself, but none of what workspace:read guards
    assert (data["workspaceId"], data["workspace"], data["apiKey"]["id"]) == (me.id, None, me.key_id)
    assert api("GET", "/api/v1/workspaces/me", me.key).status == 403


def test_a_key_is_shown_once_and_stored_only_as_its_hash(
    api: Api, workspace: WorkspaceFactory, database_url: str
) -> None:
    admin = workspace("CONSUMER")
    reply = api(
        "POST", "/api/v1/api-keys", admin.key, {"name": "agent", "scopes": ["sessions:read", "sessions:create"]}
    )
    assert reply.status == 201
    created = reply.data
    assert created["key"].startswith("lxxn_")
    assert created["scopes"] == ["sessions:create", "sessions:read"]
    listed = api("GET", "/api/v1/api-keys", admin.key).data["items"]
    assert [k["id"] for k in listed][-1] == created["id"]
    assert all("key" not in k for k in listed)
    with psycopg.connect(database_url) as conn:
        dump = json.dumps(conn.execute("SELECT to_jsonb(k) FROM api_keys k").fetchall())
        stored = conn.execute("SELECT key_hash FROM api_keys WHERE id = %s", (created["id"],)).fetchone()
    assert created["key"] not in dump
    assert stored is not None and bytes(stored[0]) == hashlib.sha256(created["key"].encode()).digest()
    assert api("GET", "/api/v1/sessions", created["key"]).status == 200


def test_unknown_scopes_are_rejected(api: Api, workspace: WorkspaceFactory) -> None:
    reply = api("POST", "/api/v1/api-keys", workspace().key, {"name": "x", "scopes": ["sessions:everything"]})
    assert (reply.status, reply.error) == (400, ("INVALID_INPUT", "input:scopes"))


def test_revoking_an_unknown_or_foreign_key_is_not_found(api: Api, workspace: WorkspaceFactory) -> None:
    mine, theirs = workspace(), workspace()
    for key_id in ("nope", theirs.key_id):
        reply = api("DELETE", f"/api/v1/api-keys/{key_id}", mine.key)
        assert (reply.status, reply.error[0]) == (404, "API_KEY_NOT_FOUND")
    assert api("GET", "/api/v1/me", theirs.key).status == 200


def test_a_supplier_sets_availability_and_coverage(api: Api, workspace: WorkspaceFactory) -> None:
    here, _ = unique_place()  # an inbox of its own: other tests request sessions in the same database
    me = workspace("SUPPLIER", availability="OFFLINE")
    area = square(here["lat"], here["lng"], 0.05)
    reply = api("PATCH", "/api/v1/workspaces/me", me.key, {"availability": "ONLINE", "coverageArea": area})
    assert reply.status == 200
    data = api("GET", "/api/v1/workspaces/me", me.key).data
    assert data["availability"] == "ONLINE"
    assert data["coverageArea"]["type"] == "MultiPolygon"
    session = api("POST", "/api/v1/sessions", workspace("CONSUMER").key, here).data
    assert [s["id"] for s in api("GET", "/api/v1/sessions/inbox", me.key).data["items"]] == [session["id"]]


# Farther than 50 km from their centroid, however small their area: the inbox would list every request inside.
WORLD = {"type": "Polygon", "coordinates": [[[-180, -90], [180, -90], [180, 90], [-180, 90], [-180, -90]]]}
FAR_REACHING = {
    "the whole world": WORLD,
    "nearly all of it": square(0, 0, 80),
    "a 110 km square": square(4.65, -74.05, 0.5),
    "two city blocks 220 km apart": {
        "type": "MultiPolygon",
        "coordinates": [square(4.65, -74.05, 0.001)["coordinates"], square(6.65, -74.05, 0.001)["coordinates"]],
    },
}


@pytest.mark.parametrize("area", FAR_REACHING.values(), ids=FAR_REACHING.keys())
def test_a_coverage_area_reaching_farther_than_the_maximum_is_400_and_changes_nothing(
    api: Api, workspace: WorkspaceFactory, area: dict
) -> None:
    # Given a supplier with a coverage area
    me = workspace("SUPPLIER")
    before = api("GET", "/api/v1/workspaces/me", me.key).data
    # When it asks for an area reaching farther than MAX_COVERAGE_RADIUS_M from its centroid
    reply = api("PATCH", "/api/v1/workspaces/me", me.key, {"coverageArea": area, "availability": "OFFLINE"})
    # Then it is refused in the envelope, and nothing of the request applies
    assert (reply.status, reply.error) == (400, ("INVALID_INPUT", "input:coverageArea"))
    assert api("GET", "/api/v1/workspaces/me", me.key).data == before


def test_a_metropolitan_coverage_area_is_accepted(api: Api, workspace: WorkspaceFactory) -> None:
    # A ring of 45 km around a point (0.4° of latitude ≈ 44.5 km; of longitude at 4.65° N, ≈ 44.4 km)
    me = workspace("SUPPLIER")
    area = {"type": "Polygon", "coordinates": [_ring(65, radius=0.4)]}
    reply = api("PATCH", "/api/v1/workspaces/me", me.key, {"coverageArea": area})
    assert reply.status == 200, reply.body
    assert MAX_COVERAGE_RADIUS_M == 50_000  # what the README's Limits table documents


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"availability": "BUSY"}, "availability"),
        ({"coverageArea": {"type": "Point", "coordinates": [0, 0]}}, "coverageArea"),
        ({"coverageArea": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [0, 0]]]}}, "coverageArea.coordinates"),
        ({"coverageArea": {"type": "Polygon", "coordinates": "square"}}, "coverageArea.coordinates"),
        ({"name": ""}, "name"),
        ({"name": "nul\x00byte"}, "name"),
        (
            {"coverageArea": {"type": "Polygon", "coordinates": [[[500, 0], [1, 1], [1, 0], [500, 0]]]}},
            "coverageArea.coordinates",
        ),
        (
            {"coverageArea": {"type": "Polygon", "coordinates": [[[0, 0, 5], [1, 1, 5], [1, 0, 5], [0, 0, 5]]]}},
            "coverageArea.coordinates",
        ),
        (
            {"coverageArea": {"type": "Polygon", "coordinates": [[["a", "b"], [1, 1], [1, 0], ["a", "b"]]]}},
            "coverageArea.coordinates",
        ),
        (
            {"coverageArea": {"type": "Polygon", "coordinates": [[[True, 0], [1, 1], [1, 0], [True, 0]]]}},
            "coverageArea.coordinates",
        ),
        ({"coverageArea": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1]]]}}, "coverageArea"),
        (
            {"coverageArea": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}},
            "coverageArea",
        ),
    ],
)
def test_bad_workspace_updates_are_400_and_change_nothing(
    api: Api, workspace: WorkspaceFactory, body: dict, field: str
) -> None:
    me = workspace("SUPPLIER", availability="OFFLINE")
    before = api("GET", "/api/v1/workspaces/me", me.key).data
    reply = api("PATCH", "/api/v1/workspaces/me", me.key, body)
    assert reply.status == 400
    assert reply.error == ("INVALID_INPUT", f"input:{field}")
    assert api("GET", "/api/v1/workspaces/me", me.key).data == before


def _ring(positions: int, lng: float = -74.05, lat: float = 4.65, radius: float = 0.05) -> list[list[float]]:
    """A closed ring of `positions` positions (the last repeats the first) around (lng, lat)."""
    n = positions - 1
    ring = [
        [round(lng + radius * math.cos(2 * math.pi * i / n), 6), round(lat + radius * math.sin(2 * math.pi * i / n), 6)]
        for i in range(n)
    ]
    return [*ring, ring[0]]


def test_a_coverage_area_of_the_maximum_size_is_accepted(api: Api, workspace: WorkspaceFactory) -> None:
    me = workspace("SUPPLIER")
    area = {"type": "Polygon", "coordinates": [_ring(MAX_POSITIONS)]}
    reply = api("PATCH", "/api/v1/workspaces/me", me.key, {"coverageArea": area})
    assert reply.status == 200, reply.body
    assert len(reply.data["coverageArea"]["coordinates"][0][0]) == MAX_POSITIONS


@pytest.mark.parametrize(
    ("area", "field"),
    [
        ({"type": "Polygon", "coordinates": [_ring(MAX_POSITIONS + 1)]}, "coverageArea.coordinates"),
        ({"type": "Polygon", "coordinates": [_ring(1_000), _ring(1_001, radius=0.01)]}, "coverageArea"),
        ({"type": "Polygon", "coordinates": [_ring(5, radius=0.1 / (i + 1)) for i in range(MAX_RINGS + 1)]},
         "coverageArea.coordinates"),
        ({"type": "MultiPolygon", "coordinates": [[_ring(5, lng=i)] for i in range(MAX_POLYGONS + 1)]},
         "coverageArea.coordinates"),
    ],
    ids=["positions in a ring", "positions in all", "rings", "polygons"],
)  # fmt: skip
def test_a_coverage_area_over_the_limits_is_400_and_changes_nothing(
    api: Api, workspace: WorkspaceFactory, area: dict, field: str
) -> None:
    me = workspace("SUPPLIER")
    before = api("GET", "/api/v1/workspaces/me", me.key).data
    reply = api("PATCH", "/api/v1/workspaces/me", me.key, {"coverageArea": area})
    assert (reply.status, reply.error) == (400, ("INVALID_INPUT", f"input:{field}"))
    assert api("GET", "/api/v1/workspaces/me", me.key).data == before


@pytest.mark.parametrize("token", ["drop table", "", "é", "9" * 300, "-1"])
def test_any_consistency_token_is_accepted(api: Api, workspace: WorkspaceFactory, token: str) -> None:
    # The seeds type the header as a plain string: a token this API did not issue carries no guarantee, but is no error
    reply = api("GET", "/api/v1/sessions", workspace().key, headers={"x-lx-consistency-token": token})
    assert reply.status == 200, reply.body


def test_a_write_answers_a_sealed_token_that_shows_no_transaction_counter(
    api: Api, workspace: WorkspaceFactory, database_url: str
) -> None:
    # Given two writes by one tenant (renaming its workspace twice)
    me = workspace()
    replies = [api("PATCH", "/api/v1/workspaces/me", me.key, {"name": f"name-{n}"}) for n in range(2)]
    tokens = [reply.headers[TOKEN] for reply in replies]
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT xmin::text FROM workspaces WHERE id = %s", (me.id,)).fetchone()
    assert row is not None
    last_transaction = int(row[0])
    # Then each token is 32 opaque characters: no number to subtract from another, no order, not the transaction id
    assert all(re.fullmatch(PATTERN, token) for token in tokens), tokens
    assert not any(token.isdigit() or str(last_transaction) in token for token in tokens)
    assert tokens[0] != tokens[1]
    # And the server opens its own token to the transaction that made the write, and only with its own key
    opened = open_token(tokens[1], wiring.consistency_key())
    assert opened is not None and opened & 0xFFFF_FFFF == last_transaction  # xmin is the id without its epoch
    assert open_token(tokens[1], "another deployment's key") is None
    assert open_token(tokens[1][:-1] + ("A" if tokens[1][-1] != "A" else "B"), wiring.consistency_key()) is None


def test_a_consistency_token_from_a_write_is_accepted_on_a_read(api: Api, workspace: WorkspaceFactory) -> None:
    me = workspace()
    written = api("POST", "/api/v1/sessions", me.key, {"lat": 0, "lng": 0})
    token = written.headers["x-lx-consistency-token"]
    reply = api("GET", f"/api/v1/sessions/{written.data['id']}", me.key, headers={"x-lx-consistency-token": token})
    assert reply.status == 200


def test_an_unreachable_authorization_store_is_authz_error(
    api: Api, workspace: WorkspaceFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = workspace().key
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nowhere")
    monkeypatch.setenv("LX_DB_CONNECT_TIMEOUT_S", "1")
    get_settings.cache_clear()
    connection.reset()
    try:
        reply = api("GET", "/api/v1/me", key)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
        connection.reset()
    assert (reply.status, reply.error) == (503, ("AUTHZ_ERROR", "auth:storeUnavailable"))


def test_the_admin_command_creates_a_workspace_and_prints_its_key_once(api: Api, database_url: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "luxxon.admin", "create-workspace", "--name", "cli", "--roles", "SUPPLIER",
         "--availability", "ONLINE", "--coverage", "4.71,-74.07,5000"],
        capture_output=True, text=True, check=True, cwd=ROOT, env={**os.environ, "DATABASE_URL": database_url},
    )  # fmt: skip
    printed = json.loads(result.stdout)
    assert printed["workspace"]["roles"] == ["SUPPLIER"]
    assert printed["workspace"]["coverageArea"]["type"] == "MultiPolygon"
    me = api("GET", "/api/v1/me", printed["apiKey"]["key"]).data
    assert me["workspace"]["id"] == printed["workspace"]["id"]
    assert set(me["apiKey"]["scopes"]) == {"sessions:operate", "sessions:read", "workspace:admin"}


def test_migrations_are_safe_to_run_twice(database_url: str) -> None:
    from luxxon.db.migrate import migrate

    assert migrate(database_url) == []


def test_a_body_that_is_not_utf8_is_400(workspace: WorkspaceFactory) -> None:
    from luxxon.local.gateway import build_event, invoke, match

    route, params = match("POST", "/api/v1/sessions")  # type: ignore[misc]
    headers = {"Authorization": f"Bearer {workspace().key}", "content-type": "application/json"}
    event = build_event(route, "POST", "/api/v1/sessions", params, "", headers, b'{"lat": "\xff\xfe"}')
    result = invoke(route.module, event)
    body = json.loads(result["body"])
    assert (result["statusCode"], body["code"], body["detail"]) == (400, "INVALID_INPUT", "input:body")
