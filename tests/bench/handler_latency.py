"""In-process handler latency against the bare SQL the same request needs, and SQL round trips per request.

.venv/bin/python -m tests.bench.handler_latency [--smoke]
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

from luxxon import wiring
from luxxon.admin import DEFAULT_SCOPES
from luxxon.db import connection as db
from luxxon.domain.identity import hash_key
from luxxon.local.gateway import build_event, invoke, match
from tests.bench.common import COVERAGE, options, p50, p99, scratch_database, timed
from tests.conftest import random_wallet

N = 2000
# A budget no bench request exceeds: the limit is still spent on every request (the statement below), never refused.
BUDGET = "1000000/1000000"
# The statements the handlers send (luxxon.db: the hot ones are PL/pgSQL functions, migrations 0003 and 0006):
# authentication spends the key's and the workspace's rate-limit buckets in the same statement.
AUTH_SQL = "SELECT * FROM lx_principal_metered(%s, 1000000, 1000000, 1000000, 1000000)"
GET_SQL = "SELECT * FROM lx_session_get(%(id)s)"
ACCEPT_SQL = (
    "SELECT a.*, pg_current_xact_id()::text AS token"
    " FROM lx_session_cas_accept(%(id)s, %(op)s, 'REQUESTED', 'ASSIGNED') a"
)


class RoundTrips:
    """Counts statements sent on the process connection (each is one round trip in autocommit)."""

    def __init__(self) -> None:
        self.count = 0
        conn = db.connection()
        original = conn.execute

        def counting(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return original(*args, **kwargs)

        conn.execute = counting  # type: ignore[method-assign]


def event(method: str, path: str, key: str) -> tuple[str, dict[str, Any]]:
    found = match(method, path)
    assert found is not None
    route, params = found
    headers = {"Authorization": f"Bearer {key}", "content-type": "application/json"}
    return route.module, build_event(route, method, path, params, "", headers, b"")


def ok(result: dict[str, Any]) -> None:
    """A timed request must succeed: timing an error path measures nothing."""
    assert result["statusCode"] == 200, result.get("body")


def main() -> int:
    n = 20 if options().smoke else N
    warnings.simplefilter("ignore")  # Metrics warns when a request published no metric
    os.environ["LX_RATE_LIMIT_WORKSPACE"] = os.environ["LX_RATE_LIMIT_KEY"] = BUDGET
    os.environ["LX_MAX_ACTIVE_SESSIONS_PER_OPERATOR"] = str(2 * N + 10)  # one operator accepts every session
    os.environ["LX_CREDIT_CHECK"] = "false"  # no chain here: what the check costs is tests/bench/credit.py
    with scratch_database():
        service = wiring.workspaces()
        consumer_ws, consumer_key = service.bootstrap(
            "bench-c", ["CONSUMER"], DEFAULT_SCOPES["CONSUMER"], wallet_address=random_wallet()
        )
        supplier_ws, supplier_key = service.bootstrap(
            "bench-s", ["SUPPLIER"], DEFAULT_SCOPES["SUPPLIER"], "ONLINE", random_wallet(), COVERAGE
        )
        consumer = next(p for p in [wiring.workspace_store().principal_by_key_hash(hash_key(consumer_key.key))] if p)
        from luxxon.models.sessions import CreateSessionRequest

        def new_session() -> str:
            return wiring.sessions().create(consumer, CreateSessionRequest(lat=4.7, lng=-74.0)).value.id

        one = new_session()
        conn = db.connection()
        results = {}

        # GET /sessions/{id}
        module, get_event = event("GET", f"/api/v1/sessions/{one}", consumer_key.key)
        ok(invoke(module, get_event))  # warm: imports, prepared statements, pydantic schemas

        def bare_get() -> None:
            conn.execute(AUTH_SQL, (hash_key(consumer_key.key),)).fetchone()
            conn.execute(GET_SQL, {"id": one, "ws": consumer_ws.id}).fetchone()

        for _ in range(200):
            bare_get()
        results["GET /sessions/{id}"] = (timed(lambda: ok(invoke(module, get_event)), n), timed(bare_get, n))
        counter = RoundTrips()
        ok(invoke(module, get_event))
        trips_get = counter.count

        # POST /sessions/{id}/accept: each call accepts a fresh REQUESTED session
        handler_ids = [new_session() for _ in range(n + 1)]
        bare_ids = [new_session() for _ in range(n + 1)]
        events = [event("POST", f"/api/v1/sessions/{sid}/accept", supplier_key.key) for sid in handler_ids]
        ok(invoke(*events.pop()))
        bare_iter, handler_iter = iter(bare_ids), iter(events)

        def bare_accept() -> None:
            conn.execute(AUTH_SQL, (hash_key(supplier_key.key),)).fetchone()
            conn.execute(ACCEPT_SQL, {"id": next(bare_iter), "op": supplier_ws.id}).fetchone()

        bare_accept()
        results["POST /sessions/{id}/accept"] = (
            timed(lambda: ok(invoke(*next(handler_iter))), n - 1),
            timed(bare_accept, n - 1),
        )
        last = event("POST", f"/api/v1/sessions/{new_session()}/accept", supplier_key.key)
        counter.count = 0
        ok(invoke(*last))
        trips_accept = counter.count

    header = ("request", "handler p50", "bare SQL p50", "ratio", "handler p99", "round trips")
    print("{:30} {:>12} {:>13} {:>6} {:>12} {:>12}".format(*header))
    for (name, (handler, bare)), trips in zip(results.items(), (trips_get, trips_accept), strict=True):
        ratio = p50(handler) / p50(bare)
        print(f"{name:30} {p50(handler):10.0f}us {p50(bare):11.0f}us {ratio:6.2f} {p99(handler):10.0f}us {trips:12d}")
    print("target: ratio <= 1.50 (the bare SQL runs the same statements on the same connection)")
    print("note: a local round trip is ~65 us (SELECT 1), so the fixed Python cost of the framework dominates here")
    return 0


if __name__ == "__main__":
    sys.exit(main())
