"""Concurrent transitions through the gateway's worker processes: every CAS has exactly one winner."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.conftest import RunningEdge, Workspace, WorkspaceFactory
from tests.e2e.conftest import Http


def race(http: Http, calls: list[tuple[str, str, str]]) -> list[tuple[int, dict[str, Any]]]:
    """Fire every call at once (a barrier releases them together); returns (status, body) in call order."""
    barrier = threading.Barrier(len(calls))

    def fire(call: tuple[str, str, str]) -> tuple[int, dict[str, Any]]:
        method, path, key = call
        barrier.wait()
        status, body, _ = http(method, path, key)
        return status, body

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(fire, calls))


def warm(http: Http, suppliers: list[Workspace]) -> None:
    """Start every worker process (their cold start is not what this test races)."""
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda s: http("GET", "/api/v1/me", s.key), suppliers))


def test_fifty_concurrent_accepts_have_exactly_one_winner(http: Http, workspace: WorkspaceFactory) -> None:
    consumer = workspace("CONSUMER")
    suppliers = [workspace("SUPPLIER") for _ in range(50)]
    warm(http, suppliers)
    session_id = http("POST", "/api/v1/sessions", consumer.key, {"lat": 1, "lng": 1})[1]["data"]["id"]

    results = race(http, [("POST", f"/api/v1/sessions/{session_id}/accept", s.key) for s in suppliers])

    winners = [i for i, (status, _) in enumerate(results) if status == 200]
    assert len(winners) == 1
    losers = [body for status, body in results if status != 200]
    assert {(b["statusCode"], b["code"], b["detail"]) for b in losers} == {
        (409, "INVALID_STATE", "session:accept:ASSIGNED")
    }
    final = http("GET", f"/api/v1/sessions/{session_id}", consumer.key)[1]["data"]
    assert final["operatorWorkspaceId"] == suppliers[winners[0]].id


def test_accepts_racing_cancels_leave_one_cancel_and_at_most_one_accept(
    http: Http, workspace: WorkspaceFactory
) -> None:
    consumer = workspace("CONSUMER")
    suppliers = [workspace("SUPPLIER") for _ in range(20)]
    warm(http, suppliers)
    for _ in range(5):
        session_id = http("POST", "/api/v1/sessions", consumer.key, {"lat": 1, "lng": 1})[1]["data"]["id"]
        accepts = [("POST", f"/api/v1/sessions/{session_id}/accept", s.key) for s in suppliers]
        cancels = [("DELETE", f"/api/v1/sessions/{session_id}", consumer.key)] * 20
        calls = [c for pair in zip(accepts, cancels, strict=True) for c in pair]

        results = race(http, calls)

        by_op: dict[str, Counter[Any]] = {"accept": Counter(), "cancel": Counter()}
        for (method, _, _), (status, body) in zip(calls, results, strict=True):
            op = "accept" if method == "POST" else "cancel"
            by_op[op][status if status == 200 else body["detail"]] += 1
        assert by_op["cancel"][200] == 1
        assert by_op["accept"][200] <= 1
        assert set(by_op["cancel"]) <= {200, "session:cancel:CANCELLED"}
        assert set(by_op["accept"]) <= {200, "session:accept:ASSIGNED", "session:accept:CANCELLED"}
        final = http("GET", f"/api/v1/sessions/{session_id}", consumer.key)[1]["data"]
        assert final["state"] == "CANCELLED"


def live_inputs_named(edge: RunningEdge, session_id: str) -> int:
    request = urllib.request.Request(
        f"{edge.api_base}/accounts/local/stream/live_inputs", headers={"Authorization": f"Bearer {edge.token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        inputs = json.loads(response.read())["result"]["liveInputs"]  # Cloudflare's list shape
    return sum(1 for li in inputs if str((li.get("meta") or {}).get("name")).endswith(f":{session_id}"))


def test_concurrent_starts_return_the_same_urls_and_create_one_live_input(
    http: Http, workspace: WorkspaceFactory, edge: RunningEdge
) -> None:
    consumer, operator = workspace("CONSUMER"), workspace("SUPPLIER")
    warm(http, [operator] * 16)
    session_id = http("POST", "/api/v1/sessions", consumer.key, {"lat": 1, "lng": 1})[1]["data"]["id"]
    assert http("POST", f"/api/v1/sessions/{session_id}/accept", operator.key)[0] == 200

    results = race(http, [("POST", f"/api/v1/sessions/{session_id}/start", operator.key)] * 10)

    assert {status for status, _ in results} == {200}
    urls = {(b["data"]["videoBackendRef"], b["data"]["whipUrl"], b["data"]["whepUrl"]) for _, b in results}
    assert len(urls) == 1
    assert live_inputs_named(edge, session_id) == 1


def test_concurrent_cancels_of_one_operators_sessions_release_it(http: Http, workspace: WorkspaceFactory) -> None:
    operator = workspace("SUPPLIER")
    consumers = [workspace("CONSUMER") for _ in range(4)]
    warm(http, [operator] * 16)
    calls = []
    for consumer in consumers:
        session_id = http("POST", "/api/v1/sessions", consumer.key, {"lat": 1, "lng": 1})[1]["data"]["id"]
        assert http("POST", f"/api/v1/sessions/{session_id}/accept", operator.key)[0] == 200
        assert http("POST", f"/api/v1/sessions/{session_id}/start", operator.key)[0] == 200
        calls.append(("DELETE", f"/api/v1/sessions/{session_id}", consumer.key))
    assert http("GET", "/api/v1/workspaces/me", operator.key)[1]["data"]["availability"] == "BUSY"

    results = race(http, calls)

    assert [status for status, _ in results] == [200] * 4
    assert http("GET", "/api/v1/workspaces/me", operator.key)[1]["data"]["availability"] == "ONLINE"


def test_cancel_all_racing_accept_start_cancel_and_end_leaves_one_final_state_each(
    http: Http, workspace: WorkspaceFactory
) -> None:
    """Each round: an operator holding a started session (A1), an accepted one (A2) and a LIVE one (L), in some rounds
    a second LIVE one nobody touches (L2), and a request it has not accepted yet (R). Then, all at once through the
    worker processes: the operator's cancel-all and the consumer's end of L, and in every other round also a second
    cancel-all, the operator's accept of R and start of A2 and the consumer's cancel of A1 (each of these takes the
    operator's row too, and a later cancel-all releases what an earlier race left: the other rounds race one cancel-all
    against the end alone)."""
    from datetime import UTC, datetime, timedelta

    from luxxon import wiring

    consumer = workspace("CONSUMER")

    def created() -> str:
        return str(http("POST", "/api/v1/sessions", consumer.key, {"lat": 1, "lng": 1})[1]["data"]["id"])

    for round_ in range(12):
        # Given the operator's sessions
        operator = workspace("SUPPLIER")
        if round_ == 0:
            warm(http, [operator] * 16)
        a1, a2, live, request = created(), created(), created(), created()
        untouched = created() if round_ % 4 == 2 else None
        for session_id in (a1, a2, live, untouched):
            if session_id is not None:
                assert http("POST", f"/api/v1/sessions/{session_id}/accept", operator.key)[0] == 200
        assert http("POST", f"/api/v1/sessions/{a1}/start", operator.key)[0] == 200
        for session_id in (live, untouched):
            if session_id is not None:
                wiring.sessions().go_live(session_id, datetime.now(UTC) - timedelta(seconds=3))
        calls = {
            "all1": ("POST", "/api/v1/sessions/cancel-all-assignments", operator.key),
            "end": ("POST", f"/api/v1/sessions/{live}/end", consumer.key),
        }
        if round_ % 2 == 0:
            calls["all2"] = ("POST", "/api/v1/sessions/cancel-all-assignments", operator.key)
            calls["accept"] = ("POST", f"/api/v1/sessions/{request}/accept", operator.key)
            calls["start"] = ("POST", f"/api/v1/sessions/{a2}/start", operator.key)
            calls["cancel"] = ("DELETE", f"/api/v1/sessions/{a1}", consumer.key)

        # When they race
        got = dict(zip(calls, race(http, list(calls.values())), strict=True))

        # Then every call got an answer it may get, and the cancel-alls never name a session twice
        cancel_alls = [name for name in ("all1", "all2") if name in got]
        assert {name: got[name][0] for name in (*cancel_alls, "end")} == dict.fromkeys((*cancel_alls, "end"), 200), got
        refused = {body["detail"] for name, (status, body) in got.items() if status != 200}
        assert refused <= {"operator:atCapacity", "session:start:CANCELLED", "session:cancel:CANCELLED"}, got
        listed = [s for name in cancel_alls for s in got[name][1]["data"]["cancelled"]]
        assert len(listed) == len(set(listed)) and set(listed) <= {a1, a2, request}
        # And each session is in the one final state its winners say
        mine = [s for s in (a1, a2, live, request, untouched) if s is not None]
        state = {s: http("GET", f"/api/v1/sessions/{s}", consumer.key)[1]["data"] for s in mine}
        cancelled_by_consumer = "cancel" in got and got["cancel"][0] == 200
        assert state[a1]["state"] == "CANCELLED" and cancelled_by_consumer == (a1 not in listed)
        assert state[a2]["state"] == "CANCELLED" and a2 in listed
        assert state[live]["state"] == "ENDED"
        if "accept" in got and got["accept"][0] == 200:
            assert state[request]["state"] == ("CANCELLED" if request in listed else "ASSIGNED")
        else:
            assert (state[request]["state"], request in listed) == ("REQUESTED", False)
        if "start" in got and got["start"][0] == 200:  # it started A2 before a cancel-all cancelled it
            assert got["start"][1]["data"]["videoBackendRef"]
        # And the operator is released exactly when it holds nothing (no LIVE session, no started one)
        held = [s for s, view in state.items() if view["operatorWorkspaceId"] == operator.id]
        as_operator = [http("GET", f"/api/v1/sessions/{s}", operator.key)[1]["data"] for s in held]
        holds = any(
            v["state"] in ("LIVE", "PAUSED") or (v["state"] == "ASSIGNED" and v["videoBackendRef"]) for v in as_operator
        )
        assert holds == (untouched is not None)
        availability = http("GET", "/api/v1/workspaces/me", operator.key)[1]["data"]["availability"]
        assert availability == ("BUSY" if holds else "ONLINE"), (round_, availability, state)
