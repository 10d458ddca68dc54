"""The supplier inbox among 1,000,000 workspaces: REQUESTED sessions inside the supplier's coverage area.

Population: 1,000,000 workspaces (30% suppliers with a circular coverage area of 2-20 km around one of 300 cities,
the rest consumers), 500,000 sessions around the same cities, 10% of them REQUESTED. The query is the one the
`GET /sessions/inbox` handler runs (PgSessionStore.inbox); the plan is printed to show the partial GiST index.

    .venv/bin/python -m tests.bench.inbox [--workspaces N] [--sessions N] [--smoke]
"""

from __future__ import annotations

import argparse
import random
import sys
import time

from luxxon.db import connection as db
from luxxon.db.sessions import PgSessionStore
from tests.bench.common import options, p50, p99, scratch_database, timed

POPULATE = """
CREATE TEMP TABLE cities AS
    SELECT i AS id, (random() * 120 - 55)::float8 AS lat, (random() * 340 - 170)::float8 AS lng
    FROM generate_series(1, 300) i;

INSERT INTO workspaces (name, roles, availability, coverage_area)
SELECT 'ws-' || g,
       CASE WHEN g %% 10 < 3 THEN ARRAY['SUPPLIER'] ELSE ARRAY['CONSUMER'] END,
       (ARRAY['ONLINE', 'OFFLINE', 'BUSY'])[1 + (g %% 3)],
       CASE WHEN g %% 10 < 3 THEN
           ST_Multi(ST_Buffer(ST_MakePoint(c.lng + (random() - 0.5) * 0.4, c.lat + (random() - 0.5) * 0.4),
                              (2000 + random() * 18000) / 111320.0, 4))::geography
       END
FROM generate_series(1, %(workspaces)s) g
JOIN cities c ON c.id = 1 + (g %% 300);

INSERT INTO sessions (consumer_workspace_id, state, operator_workspace_id, started_at, requested_at_point,
                      geofence_radius_m, max_duration_seconds, wait_timeout_seconds, wait_deadline_at,
                      rate_per_second_micro_usdc, hold_micro_usdc)
SELECT consumer.id,
       CASE WHEN g %% 10 = 0 THEN 'REQUESTED' ELSE 'CANCELLED' END,
       NULL, NULL,
       ST_SetSRID(ST_MakePoint(c.lng + (random() - 0.5) * 0.5, c.lat + (random() - 0.5) * 0.5), 4326)::geography,
       150, 600, 300, now() + interval '5 minutes', 1000, 600000
FROM generate_series(1, %(sessions)s) g
JOIN cities c ON c.id = 1 + (g %% 300)
JOIN LATERAL (
    SELECT id FROM workspaces WHERE name = 'ws-' || (1 + (g::bigint * 7919) %% %(workspaces)s) LIMIT 1
) consumer ON true;
"""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workspaces", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=500_000)
    args = options(parser, workspaces=2_000, sessions=1_000)
    with scratch_database("lx_bench_inbox"):
        conn = db.connection()
        conn.execute("SET statement_timeout = 0")  # populating a million rows outlasts the application's bound
        conn.execute("CREATE INDEX ON workspaces (name)")  # bench-only: the generator looks consumers up by name
        started = time.perf_counter()
        for statement in POPULATE.split(";\n\n"):
            conn.execute(statement, {"workspaces": args.workspaces, "sessions": args.sessions})
        conn.execute("VACUUM ANALYZE workspaces")
        conn.execute("VACUUM ANALYZE sessions")
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM workspaces) AS workspaces, (SELECT count(*) FROM sessions) AS sessions,"
            " (SELECT count(*) FROM sessions WHERE state = 'REQUESTED') AS requested"
        ).fetchone()
        print(f"populated in {time.perf_counter() - started:.0f} s: {counts}")
        suppliers = [
            r["id"]
            for r in conn.execute(
                "SELECT id::text FROM workspaces WHERE coverage_area IS NOT NULL ORDER BY random() LIMIT 500"
            ).fetchall()
        ]
        store = PgSessionStore()
        rng = random.Random(7)
        sizes = [len(store.inbox(s, 20)) for s in suppliers]
        samples = timed(lambda: store.inbox(rng.choice(suppliers), 20), 3000)
        plan = conn.execute(
            "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)"
            " SELECT s.id FROM workspaces w JOIN sessions s ON s.state = 'REQUESTED'"
            " AND ST_Intersects(s.requested_at_point, w.coverage_area) WHERE w.id = %s"
            " ORDER BY s.created_at, s.id LIMIT 20",
            (suppliers[0],),
        ).fetchall()
    print("plan:")
    for row in plan:
        print("   ", row["QUERY PLAN"])
    print(
        f"inbox sizes: mean {sum(sizes) / len(sizes):.1f} sessions (limit 20), non-empty {sum(1 for s in sizes if s)}"
    )
    print(f"inbox query p50 {p50(samples) / 1000:.3f} ms, p99 {p99(samples) / 1000:.3f} ms (target p50 < 1 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
