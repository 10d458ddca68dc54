"""Shared bench plumbing: a throwaway migrated database and percentile helpers."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from luxxon.config import get_settings
from luxxon.db import connection, server
from luxxon.local import database

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def scratch_database(prefix: str = "lx_bench") -> Iterator[str]:
    admin = database.server_url(ROOT / ".local")
    database.ensure_postgis(admin)
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    url = server.create_database(admin, name)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "LuxxonBench")
    get_settings.cache_clear()
    connection.reset()
    try:
        yield url
    finally:
        connection.reset()
        server.drop_database(admin, name)


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
