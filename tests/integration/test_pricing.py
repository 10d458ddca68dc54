"""Live pricing and quotes, with the real bounds (the rest of the run prices flat: tests/conftest.py).

Each test prices a place of its own (`unique_place`), so the supply and demand around it are the test's."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from luxxon import wiring
from luxxon.config import get_settings
from luxxon.db.connection import connection
from luxxon.domain.ports.workspaces import Principal
from luxxon.errors import LxError
from luxxon.models.sessions import CreateSessionRequest
from tests.conftest import Api, WorkspaceFactory, unique_place

BASE = 1000


@pytest.fixture(autouse=True)
def live_pricing(monkeypatch: pytest.MonkeyPatch, database_url: str) -> Iterator[None]:
    monkeypatch.setenv("LX_PRICE_FLOOR_PERCENT", "50")
    monkeypatch.setenv("LX_PRICE_CEILING_PERCENT", "300")
    get_settings.cache_clear()
    wiring.reset()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()
    wiring.reset()


def _rate(api: Api, key: str, point: dict[str, float]) -> dict[str, Any]:
    reply = api("GET", f"/api/v1/pricing/rate?lat={point['lat']}&lng={point['lng']}", key)
    assert reply.status == 200, reply.body
    return dict(reply.data)


def test_the_rate_follows_supply_and_demand_within_its_bounds(api: Api, workspace: WorkspaceFactory) -> None:
    point, area = unique_place()
    consumer = workspace("CONSUMER")
    # Nobody there and nothing asked for: the base rate
    alone = _rate(api, consumer.key, point)
    assert (alone["ratePerSecondMicroUsdc"], alone["supply"], alone["demand"]) == (str(BASE), 0, 0)
    assert (alone["lat"], alone["lng"]) == (point["lat"], point["lng"])
    # One ONLINE supplier covering it, no request: half (the floor); an OFFLINE one does not count
    workspace("SUPPLIER", coverage=area)
    workspace("SUPPLIER", coverage=area, availability="OFFLINE")
    supplied = _rate(api, consumer.key, point)
    assert (supplied["ratePerSecondMicroUsdc"], supplied["supply"], supplied["demand"]) == (str(BASE // 2), 1, 0)
    # Requests there raise it: 2 waiting for 1 supplier → ×1.5; a crowd stops at ×3 (the ceiling)
    for _ in range(2):
        assert api("POST", "/api/v1/sessions", consumer.key, point).status == 201
    busy = _rate(api, consumer.key, point)
    assert (busy["ratePerSecondMicroUsdc"], busy["demand"]) == (str(BASE * 3 // 2), 2)
    # The session requested now is stamped with exactly that rate (the same function, the same inputs)
    stamped = api("POST", "/api/v1/sessions", consumer.key, point).data
    assert stamped["ratePerSecondMicroUsdc"] == busy["ratePerSecondMicroUsdc"]
    assert stamped["holdMicroUsdc"] == str(int(busy["ratePerSecondMicroUsdc"]) * stamped["maxDurationSeconds"])
    for _ in range(6):
        api("POST", "/api/v1/sessions", consumer.key, point)
    assert _rate(api, consumer.key, point)["ratePerSecondMicroUsdc"] == str(BASE * 3)
    # Demand is recent and near: requests far away, or older than the window, do not count
    far = {"lat": point["lat"], "lng": point["lng"] + 1.0}
    assert _rate(api, consumer.key, far)["demand"] == 0
    connection().execute(
        "UPDATE sessions SET created_at = created_at - interval '1 hour' WHERE consumer_workspace_id = %s",
        (consumer.id,),
    )
    assert _rate(api, consumer.key, point)["demand"] == 0


@pytest.mark.parametrize("query", ["", "?lat=1", "?lat=91&lng=0", "?lat=0&lng=181", "?lat=x&lng=0"])
def test_a_rate_query_without_a_valid_point_is_invalid_input(api: Api, workspace: WorkspaceFactory, query: str) -> None:
    reply = api("GET", f"/api/v1/pricing/rate{query}", workspace("CONSUMER").key)
    assert (reply.status, reply.error[0]) == (400, "INVALID_INPUT")


def _quote(api: Api, key: str, point: dict[str, float]) -> dict[str, Any]:
    reply = api("POST", "/api/v1/pricing/quotes", key, point)
    assert reply.status == 201, reply.body
    return dict(reply.data)


def test_a_quote_locks_the_rate_for_one_session(api: Api, workspace: WorkspaceFactory) -> None:
    point, area = unique_place()
    consumer = workspace("CONSUMER")
    workspace("SUPPLIER", coverage=area)
    quote = _quote(api, consumer.key, point)
    assert quote["ratePerSecondMicroUsdc"] == str(BASE // 2)
    assert (quote["lat"], quote["lng"]) == (point["lat"], point["lng"]) and quote["expiresAt"].endswith("Z")
    # Demand moves the live rate, not the quoted one
    for _ in range(3):
        api("POST", "/api/v1/sessions", consumer.key, point)
    assert _rate(api, consumer.key, point)["ratePerSecondMicroUsdc"] != quote["ratePerSecondMicroUsdc"]
    # A point within the tolerance (~50 m away) takes the quote's rate; the quote is then used up
    near = {"lat": point["lat"] + 0.00045, "lng": point["lng"]}
    created = api("POST", "/api/v1/sessions", consumer.key, {**near, "quoteId": quote["quoteId"]})
    assert created.status == 201, created.body
    assert created.data["ratePerSecondMicroUsdc"] == quote["ratePerSecondMicroUsdc"]
    again = api("POST", "/api/v1/sessions", consumer.key, {**point, "quoteId": quote["quoteId"]})
    assert (again.status, again.error) == (400, ("INVALID_INPUT", "quote:used"))


def test_each_quote_refusal_names_why_and_changes_nothing(api: Api, workspace: WorkspaceFactory) -> None:
    point, _ = unique_place()
    consumer, other = workspace("CONSUMER"), workspace("CONSUMER")
    quote = _quote(api, consumer.key, point)

    def create(key: str, body: dict[str, Any]) -> Any:
        return api("POST", "/api/v1/sessions", key, body)

    before = api("GET", "/api/v1/sessions", consumer.key).data["items"]
    far = {"lat": point["lat"] + 0.01, "lng": point["lng"]}  # ~1.1 km
    assert create(consumer.key, {**far, "quoteId": quote["quoteId"]}).error == ("INVALID_INPUT", "quote:pointMismatch")
    assert create(other.key, {**point, "quoteId": quote["quoteId"]}).error == ("INVALID_INPUT", "quote:notFound")
    assert create(consumer.key, {**point, "quoteId": "nope"}).error == ("INVALID_INPUT", "input:quoteId")  # not a UUID
    unknown = "00000000-0000-4000-8000-000000000000"
    assert create(consumer.key, {**point, "quoteId": unknown}).error == ("INVALID_INPUT", "quote:notFound")
    assert api("GET", "/api/v1/sessions", consumer.key).data["items"] == before  # nothing was created
    # None of those used it up: the right point still gets it; an expired one is refused
    assert create(consumer.key, {**point, "quoteId": quote["quoteId"]}).status == 201
    stale = _quote(api, consumer.key, point)
    connection().execute("UPDATE quotes SET expires_at = clock_timestamp() WHERE id = %s", (stale["quoteId"],))
    assert create(consumer.key, {**point, "quoteId": stale["quoteId"]}).error == ("INVALID_INPUT", "quote:expired")


def test_two_creates_racing_with_one_quote_have_one_winner(
    api: Api, workspace: WorkspaceFactory, own_connections: Any
) -> None:
    point, _ = unique_place()
    consumer = workspace("CONSUMER")
    quote = _quote(api, consumer.key, point)
    own_connections("luxxon.db.sessions", "luxxon.db.pricing", "luxxon.db.idempotency")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    me = Principal(consumer.id, consumer.key_id, frozenset({"sessions:create"}), frozenset({"CONSUMER"}))
    request = CreateSessionRequest(**point, quoteId=quote["quoteId"])

    def create() -> None:
        barrier.wait()
        try:
            outcomes.append(wiring.sessions().create(me, request).value.ratePerSecondMicroUsdc)
        except LxError as error:
            outcomes.append(error.detail)

    # Each on its own connection (as two Lambda sandboxes), released together
    threads = [threading.Thread(target=create) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == sorted([quote["ratePerSecondMicroUsdc"], "quote:used"])
