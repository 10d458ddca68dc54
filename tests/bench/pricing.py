"""The live rate's query (`GET /pricing/rate`'s inputs) with 1,000,000 workspaces and 500,000 sessions.

    .venv/bin/python -m tests.bench.pricing [--workspaces 1000000] [--sessions 500000] [--smoke]

Same population as tests/bench/inbox.py (300 cities, 30 % suppliers with coverage circles, a tenth of the sessions
REQUESTED). Prints the p50/p99 of the query at random points near the cities and its plan. Target (issue 10): p50
≤ 2 ms.
"""

from __future__ import annotations

import argparse
import random
import sys
import time

from luxxon.config import get_settings
from luxxon.db import connection as db
from luxxon.db.pricing import PRICE_INPUTS, PgPricingStore
from tests.bench.common import options, p50, p99, scratch_database, timed
from tests.bench.inbox import POPULATE


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workspaces", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=500_000)
    args = options(parser, workspaces=2_000, sessions=1_000)
    with scratch_database("lx_bench_pricing"):
        conn = db.connection()
        conn.execute("SET statement_timeout = 0")
        conn.execute("CREATE INDEX ON workspaces (name)")  # bench-only: the generator looks consumers up by name
        started = time.perf_counter()
        for statement in POPULATE.split(";\n\n"):
            conn.execute(statement, {"workspaces": args.workspaces, "sessions": args.sessions})
        conn.execute("UPDATE sessions SET created_at = now() WHERE state = 'REQUESTED'")  # recent: they count
        conn.execute("VACUUM ANALYZE workspaces")
        conn.execute("VACUUM ANALYZE sessions")
        cities = conn.execute("SELECT lat, lng FROM cities").fetchall()
        print(f"populated in {time.perf_counter() - started:.0f} s")
        s = get_settings()
        store, rng = PgPricingStore(), random.Random(7)

        def point() -> tuple[float, float]:
            c = rng.choice(cities)
            return c["lat"] + rng.uniform(-0.2, 0.2), c["lng"] + rng.uniform(-0.2, 0.2)

        inputs = [store.inputs(*point(), s.demand_radius_m, s.demand_window_s) for _ in range(200)]
        samples = timed(lambda: store.inputs(*point(), s.demand_radius_m, s.demand_window_s), 3000)
        lat, lng = point()
        plan = conn.execute(
            "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + PRICE_INPUTS,
            {"lat": lat, "lng": lng, "radius": s.demand_radius_m, "window": s.demand_window_s},
        ).fetchall()
    print("plan:")
    for row in plan:
        print("   ", row["QUERY PLAN"])
    print(
        f"inputs: supply mean {sum(i.supply for i in inputs) / len(inputs):.1f}, "
        f"demand mean {sum(i.demand for i in inputs) / len(inputs):.1f}"
    )
    print(f"rate query p50 {p50(samples) / 1000:.3f} ms, p99 {p99(samples) / 1000:.3f} ms (target p50 ≤ 2 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
