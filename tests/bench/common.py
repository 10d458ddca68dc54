"""Shared bench plumbing: the `--smoke` convention, a throwaway migrated database, a private chain and Redis, the
workspaces a bench drives the API with, and percentile helpers."""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from luxxon.config import get_settings
from luxxon.db import connection, server
from luxxon.local import database

if TYPE_CHECKING:
    from tests.chain.driver import Chain
    from tests.conftest import Workspace

ROOT = Path(__file__).resolve().parents[2]
# Where the benches that drive the API request sessions, and a supplier's coverage area around it (Bogotá).
PLACE = {"lat": 4.71, "lng": -74.07}
COVERAGE = (4.71, -74.07, 50_000.0)


def options(parser: argparse.ArgumentParser | None = None, **smoke: object) -> argparse.Namespace:
    """The bench's command line plus `--smoke`, the one convention of every bench: a seconds-long run with tiny
    sizes whose figures mean nothing (tests/bench/test_smoke.py runs each bench so in `make test`). With it, the
    values in `smoke` replace the options' defaults; an option given explicitly still wins."""
    parser = parser or argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true", help="a seconds-long run with tiny sizes (make test's)")
    if parser.parse_known_args()[0].smoke:
        parser.set_defaults(**smoke)
    return parser.parse_args()


@contextmanager
def scratch_database(prefix: str = "lx_bench") -> Iterator[str]:
    admin = database.server_url(ROOT / ".local")
    database.ensure_postgis(admin)
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    url = server.create_database(admin, name)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "LuxxonBench")
    os.environ.setdefault("LX_CONSISTENCY_TOKEN_KEY", secrets.token_urlsafe(32))  # as `make run` makes one per run
    get_settings.cache_clear()
    connection.reset()
    try:
        yield url
    finally:
        connection.reset()
        server.drop_database(admin, name)


@contextmanager
def local_chain() -> Iterator[Chain]:
    """A private anvil with the contracts deployed as `make run` deploys them (tests/conftest.py's `chain`), and the
    API's chain reads (the credit check at POST /sessions, the wallet view) pointed at it until the block ends."""
    from luxxon import wiring
    from luxxon.local.chain import deploy_local, start_anvil
    from tests.chain.driver import Chain

    anvil = start_anvil()
    try:
        chain = Chain(deploy_local(anvil.rpc_url))
        os.environ.update(
            {
                "LX_CHAIN_RPC_URL": anvil.rpc_url,
                "LX_CHAIN_SETTLEMENT_ADDRESS": chain.local.settlement,
                "LX_CHAIN_TOKEN_ADDRESS": chain.local.token,
                "LX_CHAIN_ID": str(chain.local.chain_id),  # as deployed: eth_chainId rides in the credit read's batch
            }
        )
        get_settings.cache_clear()
        wiring.reset()
        yield chain
    finally:
        anvil.stop()


@contextmanager
def private_redis() -> Iterator[str]:
    """The frame store on a Redis of the bench's own (tests/conftest.py's), through LX_REDIS_URL."""
    from tests.conftest import private_redis as redis

    with redis() as url:
        os.environ["LX_REDIS_URL"] = url
        get_settings.cache_clear()
        yield url


def parties(chain: Chain | None = None) -> tuple[Workspace, Workspace]:
    """A consumer and a supplier that may accept what it requests at PLACE (ONLINE, a coverage area around it, a
    wallet to be paid at), made with the admin bootstrap. With `chain`, the consumer's wallet is a fresh account whose
    pool holds far more than any bench holds, for the credit check; without it, the bench turns the check off."""
    from luxxon import wiring
    from luxxon.admin.cli import DEFAULT_SCOPES
    from tests.conftest import FUNDS, Workspace, random_wallet

    wallet = random_wallet()
    if chain is not None:
        wallet = chain.fresh_account()
        chain.fund(wallet, FUNDS)
    service = wiring.workspaces()
    consumer, consumer_key = service.bootstrap(
        "bench-consumer", ["CONSUMER"], DEFAULT_SCOPES["CONSUMER"], wallet_address=wallet
    )
    supplier, supplier_key = service.bootstrap(
        "bench-supplier", ["SUPPLIER"], DEFAULT_SCOPES["SUPPLIER"], "ONLINE", random_wallet(), COVERAGE
    )
    return Workspace(consumer.id, consumer_key.key, consumer_key.id), Workspace(
        supplier.id, supplier_key.key, supplier_key.id
    )


def timed(fn: Callable[[], object], n: int) -> list[float]:
    """Wall time of each of n calls, in microseconds."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        fn()
        out.append((time.perf_counter_ns() - t0) / 1000)
    return out


def p50(samples: list[float]) -> float:
    return statistics.median(samples)


def p99(samples: list[float]) -> float:
    return sorted(samples)[int(len(samples) * 0.99) - 1]


def start_edge_process(token: str, *extra: str) -> tuple[subprocess.Popen[str], str]:
    """The local edge in a process of its own (so its CPU can be read from /proc); returns it and its API base."""
    process = subprocess.Popen(
        [sys.executable, "-m", "luxxon.local.edge", "--port", "0", "--token", token, "--log-level", "WARNING", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if "api_base=" not in line:
        process.kill()
        raise RuntimeError(f"the edge did not start: {line!r}")
    return process, line.split("api_base=")[1].strip()
