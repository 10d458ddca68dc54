"""Rate limits across execution environments: the gateway's worker processes share the budget (it is in PostgreSQL)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from luxxon.domain.ratelimit import DEFAULT_BUDGETS
from tests.conftest import RunningEdge, WorkspaceFactory
from tests.e2e.conftest import base_url, edge_env, request, running_gateway

FLOODERS = 8
FLOOD_REQUESTS = 400


def test_one_workspace_flooding_through_every_worker_does_not_starve_another(
    workspace: WorkspaceFactory, edge: RunningEdge
) -> None:
    # Given a gateway of 4 workers (4 Lambda instances) under the default budget
    noisy, quiet = workspace("CONSUMER"), workspace("CONSUMER")
    with running_gateway(4, {**edge_env(edge), "LX_EDGE_LIMIT": "off"}) as server:
        base = base_url(server)
        for _ in range(8):  # start the workers (their cold start is not what this test measures)
            request(base, "GET", "/api/v1/health")

        def flood(_: int) -> list[int]:
            return [request(base, "GET", "/api/v1/sessions", noisy.key)[0] for _ in range(FLOOD_REQUESTS // FLOODERS)]

        # When one workspace floods from 8 clients while the other asks 5 times a second
        started = time.monotonic()
        with ThreadPoolExecutor(FLOODERS) as pool:
            flooding = pool.map(flood, range(FLOODERS))
            quiet_statuses = []
            for _ in range(15):
                quiet_statuses.append(request(base, "GET", "/api/v1/sessions", quiet.key)[0])
                time.sleep(0.2)
            noisy_statuses = Counter(status for statuses in flooding for status in statuses)
        elapsed = time.monotonic() - started

    # Then every one of the quiet workspace's requests is served
    assert quiet_statuses == [200] * len(quiet_statuses)
    # And the flood got no more than one budget allows, though 4 processes served it: the buckets are shared
    key = DEFAULT_BUDGETS.key
    assert set(noisy_statuses) <= {200, 429}
    assert noisy_statuses[429] > 0
    assert noisy_statuses[200] <= key.burst + key.per_second * elapsed + 1


def test_a_leaked_key_flooding_through_every_worker_leaves_the_other_keys_of_its_workspace_served(
    workspace: WorkspaceFactory, edge: RunningEdge
) -> None:
    # Given a workspace with two keys, behind a gateway of 4 workers, under the default budget (50/s for the
    # workspace, 25/s for each key)
    me = workspace("CONSUMER")
    with running_gateway(4, {**edge_env(edge), "LX_EDGE_LIMIT": "off"}) as server:
        base = base_url(server)
        for _ in range(8):  # start the workers (their cold start is not what this test measures)
            request(base, "GET", "/api/v1/health")
        body = {"name": "the other agent", "scopes": ["sessions:read"]}
        status, created, _ = request(base, "POST", "/api/v1/api-keys", me.key, body)
        assert status == 201
        other = created["data"]["key"]
        done = threading.Event()

        def flood(_: int) -> list[tuple[int, str | None]]:
            replies = []
            while not done.is_set():
                status, reply, _ = request(base, "GET", "/api/v1/sessions", me.key)
                replies.append((status, reply.get("detail")))
            return replies

        # When one key (leaked) floods from 8 clients, far over its budget, while the other asks 5 times a second
        started = time.monotonic()
        with ThreadPoolExecutor(FLOODERS) as pool:
            flooding = pool.map(flood, range(FLOODERS))
            time.sleep(2)  # long enough for a flood refused by its key's budget to drain the workspace's, if it did
            quiet_statuses = []
            for _ in range(15):
                quiet_statuses.append(request(base, "GET", "/api/v1/sessions", other)[0])
                time.sleep(0.2)
            done.set()
            flooded = Counter(reply for replies in flooding for reply in replies)
        elapsed = time.monotonic() - started

    # Then every one of the other key's requests is served
    assert quiet_statuses == [200] * len(quiet_statuses)
    # And the flood was refused by its key's budget alone, after it got no more than that budget
    key = DEFAULT_BUDGETS.key
    assert set(flooded) == {(200, None), (429, "rate:key")}, flooded
    assert flooded[(429, "rate:key")] > flooded[(200, None)]  # far over its budget
    assert flooded[(200, None)] <= key.burst + key.per_second * elapsed + 1
