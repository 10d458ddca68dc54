"""In-process handler latency against the bare SQL the same request needs, and SQL round trips per request.

.venv/bin/python -m tests.bench.handler_latency [--smoke]
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable
from functools import partial
from typing import Any

from luxxon import wiring
from luxxon.admin.cli import DEFAULT_SCOPES
from luxxon.db import connection as db
from luxxon.db.sessions import ACCEPT_FACTS
from luxxon.domain.identity import hash_key
from luxxon.local.gateway import build_event, invoke, match
from tests.bench.common import COVERAGE, PLACE, options, p50, p99, scratch_database, timed
from tests.conftest import random_wallet

N = 2000  # requests timed per row (--n; the smoke run times 20)
# A budget no bench request exceeds: the limit is still spent on every request (the statement below), never refused.
BUDGET = "1000000/1000000"
# The statements the handlers send (luxxon.db: the hot ones are PL/pgSQL functions, migrations 0003 and 0006):
# authentication spends the key's and the workspace's rate-limit buckets in the same statement.
AUTH_SQL = "SELECT * FROM lx_principal_metered(%s, 1000000, 1000000, 1000000, 1000000)"
GET_SQL = "SELECT * FROM lx_session_get(%(id)s)"
# POST /sessions/{id}/accept, in one transaction: the operator's row locked and the facts read (lx_accept_facts), then
# the compare-and-swap.
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


Samples = tuple[list[float], list[float]]  # the handler's, the bare SQL's


def ok(result: dict[str, Any]) -> None:
    """A timed request must succeed: timing an error path measures nothing."""
    assert result["statusCode"] == 200, result.get("body")


def _succeed(request: tuple[str, dict[str, Any]]) -> None:
    ok(invoke(*request))


def bench_get(session_id: str, key: str, n: int) -> tuple[Samples, int]:
    """GET /sessions/{id}: the handler against its two statements; and its round trips."""
    conn = db.connection()
    module, get_event = event("GET", f"/api/v1/sessions/{session_id}", key)
    ok(invoke(module, get_event))  # warm: imports, plans, pydantic schemas

    def bare_get() -> None:
        conn.execute(AUTH_SQL, (hash_key(key),)).fetchone()
        conn.execute(GET_SQL, {"id": session_id}).fetchone()

    for _ in range(200):
        bare_get()
    samples = (timed(lambda: ok(invoke(module, get_event)), n), timed(bare_get, n))
    counter = RoundTrips()
    invoke(module, get_event)
    return samples, counter.count


def bench_accept(
    new_session: Callable[[], str], release: Callable[[str], object], operator_id: str, key: str, n: int
) -> tuple[Samples, int]:
    """POST /sessions/{id}/accept: each call accepts a fresh REQUESTED session, released (untimed) after it, so the
    operator stays under its cap; the bare SQL sends the handler's statements in the same transaction shape."""
    conn = db.connection()
    handler_ids = [new_session() for _ in range(n + 1)]
    bare_ids = [new_session() for _ in range(n + 1)]
    events = [event("POST", f"/api/v1/sessions/{sid}/accept", key) for sid in handler_ids]

    def bare_accept(sid: str) -> None:
        conn.execute(AUTH_SQL, (hash_key(key),)).fetchone()
        with conn.transaction():
            conn.execute(ACCEPT_FACTS, {"id": sid, "op": operator_id}).fetchone()
            conn.execute(ACCEPT_SQL, {"id": sid, "op": operator_id}).fetchone()

    def each(calls: list[tuple[Callable[[], object], str]]) -> list[float]:
        samples = []
        for call, sid in calls:
            samples += timed(call, 1)
            release(sid)
        return samples

    _succeed(events[-1])  # warm
    release(handler_ids[-1])
    bare_accept(bare_ids[-1])
    release(bare_ids[-1])
    samples = (
        each([(partial(_succeed, e), sid) for e, sid in zip(events[:n], handler_ids[:n], strict=True)]),
        each([(partial(bare_accept, sid), sid) for sid in bare_ids[:n]]),
    )
    last = new_session()
    counter = RoundTrips()
    _succeed(event("POST", f"/api/v1/sessions/{last}/accept", key))
    return samples, counter.count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=N, help="requests timed per row")
    n = options(parser, n=20).n
    warnings.simplefilter("ignore")  # Metrics warns when a request published no metric
    os.environ["LX_RATE_LIMIT_WORKSPACE"] = os.environ["LX_RATE_LIMIT_KEY"] = BUDGET
    os.environ["LX_CREDIT_CHECK"] = "false"  # no chain here: what the check costs is tests/bench/credit.py
    from luxxon.models.sessions import CreateSessionRequest

    with scratch_database():
        service = wiring.workspaces()
        _, consumer_key = service.bootstrap(
            "bench-c", ["CONSUMER"], DEFAULT_SCOPES["CONSUMER"], wallet_address=random_wallet()
        )
        # A supplier that may accept there: ONLINE, covering the point, with a wallet to be paid at.
        supplier_ws, supplier_key = service.bootstrap(
            "bench-s",
            ["SUPPLIER"],
            DEFAULT_SCOPES["SUPPLIER"],
            availability="ONLINE",
            wallet_address=random_wallet(),
            coverage_circle=COVERAGE,
        )
        consumer = wiring.workspace_store().principal_by_key_hash(hash_key(consumer_key.key))
        assert consumer is not None

        def new_session() -> str:
            return wiring.sessions().create(consumer, CreateSessionRequest(**PLACE)).value.id

        results = {
            "GET /sessions/{id}": bench_get(new_session(), consumer_key.key, n),
            "POST /sessions/{id}/accept": bench_accept(
                new_session, partial(wiring.sessions().cancel, consumer), supplier_ws.id, supplier_key.key, n
            ),
        }

    header = ("request", "handler p50", "bare SQL p50", "ratio", "handler p99", "round trips")
    print("{:30} {:>12} {:>13} {:>6} {:>12} {:>12}".format(*header))
    for name, ((handler, bare), trips) in results.items():
        ratio = p50(handler) / p50(bare)
        print(f"{name:30} {p50(handler):10.0f}us {p50(bare):11.0f}us {ratio:6.2f} {p99(handler):10.0f}us {trips:12d}")
    print("target: ratio <= 1.50 (the bare SQL runs the same statements on the same connection)")
    print("note: a local round trip is ~65 us (SELECT 1), so the fixed Python cost of the framework dominates here")
    return 0


if __name__ == "__main__":
    sys.exit(main())
