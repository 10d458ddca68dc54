"""Load on the local system: concurrent clients against the local gateway over HTTP, 3 reads to 1 create.

.venv/bin/python -m tests.bench.load                 # 32 then 128 clients, 2,000 requests each level
.venv/bin/python -m tests.bench.load --clients 64 --requests 4000 --rate 10
.venv/bin/python -m tests.bench.load --smoke          # 2 clients, 40 requests, one worker (seconds; make test)

Each client is a consumer workspace with its own key and a keep-alive connection, paced to `--rate` requests a
second (below the key's rate-limit budget, so a throttled request is an error here), issuing GET /sessions/{id},
GET /sessions, GET /sessions/{id} then POST /sessions, over and over. The gateway runs in a process of its own
(`--workers` worker processes, as `make run` starts it) on a scratch database; nothing leaves 127.0.0.1. Prints
req/s, p50/p99 latency and errors (by kind) per level. Not part of CI: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import multiprocessing.synchronize
import os
import signal
import socket
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from luxxon import wiring
from luxxon.admin.cli import DEFAULT_SCOPES
from luxxon.domain.ratelimit import DEFAULT_BUDGETS
from tests.bench.common import options, p50, p99, scratch_database
from tests.conftest import random_wallet

HOST = "127.0.0.1"  # the only address this bench ever connects to
BODY = json.dumps({"lat": 4.71, "lng": -74.07, "maxDurationSeconds": 300}).encode()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _run_gateway(port: int, workers: int, ready: multiprocessing.synchronize.Event) -> None:
    """The gateway's own process (not a daemon: its workers are processes too); SIGTERM stops it and its workers."""
    from luxxon.local.gateway import serve

    def stop(*_: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # the workers' metric (EMF) lines stay out of the report
    os.environ["PYTHONWARNINGS"] = "ignore"  # and Powertools' "no metrics to publish" on requests without one
    os.environ["LX_CREDIT_CHECK"] = "false"  # the API without a chain: the credit check is tests/bench/credit.py
    os.environ["LX_EDGE_LIMIT"] = "off"  # every client is 127.0.0.1: one address, thousands of requests a minute
    server = serve(HOST, port, workers)
    ready.set()
    try:
        server.serve_forever()
    finally:
        server.server_close()


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, ms: float, error: str | None) -> None:
        with self.lock:
            self.latencies_ms.append(ms)
            if error:
                self.errors[error] += 1


def _client(port: int, key: str, requests: int, rate: float, tally: Tally) -> None:
    """One client: a keep-alive connection, 3 reads : 1 create, at most `rate` requests a second."""
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    session_id: str | None = None
    interval = 1.0 / rate
    next_at = time.monotonic()
    for i in range(requests):
        next_at = max(next_at + interval, time.monotonic()) if i else next_at
        time.sleep(max(0.0, next_at - time.monotonic()))
        kind = i % 4
        if kind == 3 or session_id is None:
            method, path, body = "POST", "/api/v1/sessions", BODY
        elif kind == 1:
            method, path, body = "GET", "/api/v1/sessions?limit=10", None
        else:
            method, path, body = "GET", f"/api/v1/sessions/{session_id}", None
        started = time.perf_counter()
        error: str | None = None
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            if response.status >= 400:
                error = f"HTTP {response.status}"
            elif method == "POST":
                session_id = json.loads(payload)["data"]["id"]
        except (OSError, http.client.HTTPException) as exc:
            error = type(exc).__name__
            conn.close()
            conn = http.client.HTTPConnection(HOST, port, timeout=30)
        tally.add((time.perf_counter() - started) * 1000, error)
    conn.close()


def level(port: int, keys: list[str], total: int, rate: float) -> tuple[float, Tally]:
    tally = Tally()
    each = max(1, total // len(keys))
    started = time.perf_counter()
    with ThreadPoolExecutor(len(keys)) as pool:
        list(pool.map(lambda key: _client(port, key, each, rate, tally), keys))
    return time.perf_counter() - started, tally


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--requests", type=int, default=2000, help="requests per level (bounded)")
    parser.add_argument("--rate", type=float, default=0.8 * DEFAULT_BUDGETS.key.per_second, help="per client, req/s")
    parser.add_argument("--workers", type=int, default=8, help="gateway worker processes (make run: 8)")
    args = options(parser, clients=[2], requests=40, workers=1)
    with scratch_database("lx_load"):
        keys = []
        for i in range(max(args.clients)):
            _, key = wiring.workspaces().bootstrap(
                f"load-{i}", ["CONSUMER"], DEFAULT_SCOPES["CONSUMER"], wallet_address=random_wallet()
            )
            keys.append(key.key)
        port = _free_port()
        ready = multiprocessing.get_context("spawn").Event()
        gateway = multiprocessing.get_context("spawn").Process(target=_run_gateway, args=(port, args.workers, ready))
        gateway.start()
        try:
            if not ready.wait(60):
                raise RuntimeError("the gateway did not start within 60 s")
            level(port, keys[: args.workers * 2], args.workers * 8, 1000)  # warm every worker (imports, connection)
            print(
                f"gateway: {args.workers} workers; each client ≤ {args.rate:g} req/s "
                f"(key budget {DEFAULT_BUDGETS.key}, workspace {DEFAULT_BUDGETS.workspace}); 3 reads : 1 create"
            )
            print(f"{'clients':>8} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}  errors")
            for clients in args.clients:
                elapsed, tally = level(port, keys[:clients], args.requests, args.rate)
                n = len(tally.latencies_ms)
                errors = ", ".join(f"{kind}: {count}" for kind, count in tally.errors.most_common()) or "0"
                print(
                    f"{clients:>8} {n:>9} {n / elapsed:>8.0f} {p50(tally.latencies_ms):>8.1f} "
                    f"{p99(tally.latencies_ms):>8.1f}  {errors}"
                )
        finally:
            gateway.terminate()
            gateway.join(10)
    print("note: 2 cores here run the clients, the gateway and its workers, and PostgreSQL: figures are noisy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
