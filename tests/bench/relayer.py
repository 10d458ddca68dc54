"""Relayer throughput and end → CONFIRMED latency on a private anvil (one-second blocks, like `make run`).

    .venv/bin/python -m tests.bench.relayer [--sessions 1000] [--batch 50] [--single 10] [--smoke]

N ended sessions are written as /end writes them (session ENDED + settlement PENDING, in one scratch database); one
relayer takes batches of `--batch` (the SQS batch the Lambda gets) and the indexer confirms at depth 2 between
batches. Latency: from the settlement row's creation (the session's end) to CONFIRMED. Target (issue 9): ≥ 50/s.
"""

from __future__ import annotations

import argparse
import time

from luxxon.db import connection
from luxxon.domain.settlement import Indexer, Relayer
from tests.bench.common import local_chain, options, p50, p99, scratch_database
from tests.chain.plane import Plane

RATE, SECONDS = 1_000, 5


def _seed(n: int, consumer: str, operator: str) -> list[str]:
    conn = connection.connection()
    ws = conn.execute(
        "INSERT INTO workspaces (name, roles, wallet_address) VALUES ('c', ARRAY['CONSUMER'], %s),"
        " ('o', ARRAY['SUPPLIER'], %s) RETURNING id",
        (consumer, operator),
    ).fetchall()
    rows = conn.execute(
        """
        WITH s AS (
            INSERT INTO sessions (consumer_workspace_id, operator_workspace_id, state, requested_at_point,
                geofence_radius_m, max_duration_seconds, wait_timeout_seconds, wait_deadline_at,
                rate_per_second_micro_usdc, hold_micro_usdc, started_at, ended_at, clean_seconds, charged_micro_usdc,
                consumer_wallet, operator_wallet)
            SELECT %(c)s, %(o)s, 'ENDED', ST_MakePoint(1, 1)::geography, 150, 600, 300, now(), %(rate)s,
                   %(rate)s * 600, now(), now(), %(sec)s, %(rate)s * %(sec)s, %(cw)s, %(ow)s
            FROM generate_series(1, %(n)s)
            RETURNING id, consumer_wallet, operator_wallet
        )
        INSERT INTO settlements (session_id, status, consumer_wallet, operator_wallet, clean_seconds,
                                 rate_per_second_micro_usdc, max_duration_seconds, amount_micro_usdc)
        SELECT id, 'PENDING', consumer_wallet, operator_wallet, %(sec)s, %(rate)s, 600, %(rate)s * %(sec)s FROM s
        RETURNING session_id::text
        """,
        {"c": ws[0]["id"], "o": ws[1]["id"], "rate": RATE, "sec": SECONDS, "cw": consumer, "ow": operator, "n": n},
    ).fetchall()
    return [r["session_id"] for r in rows]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--single", type=int, default=10, help="sessions settled one at a time (latency)")
    args = options(parser, sessions=10, batch=5, single=1)
    with local_chain() as chain, scratch_database("lx_bench_relayer"):
        # The relayer and the indexer as the chain tests build them, on the contract as deployed (its relayer key's
        # nonce starts at 0 on the fresh chain, where the fresh database's nonce row starts).
        plane = Plane(chain, chain.settlement, chain.local.relayer.key, chain.local.settlement_block)
        consumer, operator = chain.fresh_account(), chain.fresh_account()
        chain.fund(consumer, (args.sessions + args.single) * RATE * SECONDS)
        chain.rpc("evm_setIntervalMining", 1)  # set up at once; measured on one-second blocks, like `make run`
        ids = _seed(args.sessions, consumer, operator)
        relayer, indexer = plane.relayer(120), plane.indexer(2)
        queue = [ids[i : i + args.batch] for i in range(0, len(ids), args.batch)]
        started = time.monotonic()
        # One relayer taking the queue's batches as they come, the indexer between batches (what one Lambda
        # sandbox of each does); retries go to the back of the queue.
        while queue or _confirmed() < len(ids):
            if queue:
                retry = relayer.settle(queue.pop(0))
                if retry:
                    queue.append(sorted(retry))
            else:
                time.sleep(0.2)
            indexer.run()
            if time.monotonic() - started > 600:
                break
        elapsed = time.monotonic() - started
        latencies = _latencies()
        events = plane.settled_events()
        doubles = len(events) - len({bytes(e["args"]["sessionId"]) for e in events})
        print(f"  settlements                      {len(ids):>8,} in batches of {args.batch}, one relayer")
        print(f"  confirmed (depth 2, 1 s blocks)  {_confirmed():>8,} in {elapsed:.1f} s")
        print(f"  throughput                       {_confirmed() / elapsed:>8.1f} /s   (target ≥ 50/s)")
        print(f"  end → CONFIRMED p50 / p99        {p50(latencies):>8.2f} s / {p99(latencies):.2f} s")
        print(f"  Settled events on chain          {len(events):>8,} (doubles: {doubles})")
        single = _one_at_a_time(relayer, indexer, consumer, operator, args.single)
        print(
            f"  one at a time: end → CONFIRMED p50 / max {p50(single):>5.2f} s / {max(single):.2f} s "
            f"({args.single} sessions; 2 blocks of 1 s)"
        )
    return 0


def _confirmed() -> int:
    row = connection.fetch_one("SELECT count(*) AS n FROM settlements WHERE status = 'CONFIRMED'")
    return int(row["n"]) if row else 0


def _one_at_a_time(relayer: Relayer, indexer: Indexer, consumer: str, operator: str, n: int) -> list[float]:
    """Unloaded: one session at a time, end → CONFIRMED (the relayer sends at once; the indexer polls)."""
    out = []
    for _ in range(n):
        (sid,) = _seed(1, consumer, operator)
        started = time.monotonic()
        relayer.settle([sid])
        while _status(sid) != "CONFIRMED":
            time.sleep(0.05)
            indexer.run()
        out.append(time.monotonic() - started)
    return out


def _status(session_id: str) -> str:
    row = connection.fetch_one("SELECT status FROM settlements WHERE session_id = %s", (session_id,))
    return str(row["status"]) if row else ""


def _latencies() -> list[float]:
    rows = connection.fetch_all(
        "SELECT extract(epoch FROM updated_at - created_at) AS s FROM settlements WHERE status = 'CONFIRMED'"
    )
    return [float(r["s"]) for r in rows]


if __name__ == "__main__":
    raise SystemExit(main())
