"""The local gateway over real HTTP, with worker processes as Lambda execution environments."""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from luxxon.local.gateway import Gateway, serve
from tests.conftest import WEBHOOK_SECRET, RunningEdge

Http = Callable[..., tuple[int, dict[str, Any], dict[str, str]]]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# The race tests fire dozens of requests per key at once, every test from 127.0.0.1: the shared gateway's budgets and
# its edge limit stay out of their way. Rate limits are tested on gateways of their own (test_rate_limits.py,
# test_edge_limit.py) and in-process (tests/integration).
RACE_BUDGET = {"LX_RATE_LIMIT_WORKSPACE": "1000/2000", "LX_RATE_LIMIT_KEY": "1000/2000", "LX_EDGE_LIMIT": "off"}


def edge_env(edge: RunningEdge) -> dict[str, str]:
    """The workers' configuration as `make run` sets it: the video backend is the local edge."""
    return {
        "LX_CLOUDFLARE_API_BASE": edge.api_base,
        "LX_CLOUDFLARE_ACCOUNT_ID": "local",
        "LX_CLOUDFLARE_API_TOKEN": edge.token,
        "LX_STREAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }


def chain_env(chain: Any) -> dict[str, str]:
    """The workers' chain (the credit check at POST /sessions reads it): the run's anvil and contract."""
    return {"LX_CHAIN_RPC_URL": chain.local.rpc_url, "LX_CHAIN_SETTLEMENT_ADDRESS": chain.local.settlement}


@contextmanager
def running_gateway(workers: int, env: dict[str, str]) -> Iterator[Gateway]:
    """A gateway on a free port, serving from a thread; its workers get `env` (a function's configuration)."""
    server = serve("127.0.0.1", _free_port(), workers=workers, env=env)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def base_url(server: Gateway) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture(scope="session")
def gateway(database_url: str, edge: RunningEdge, run_chain: Any) -> Iterator[str]:
    """The gateway, its workers configured like `make run` configures them (video backend = the local edge)."""
    with running_gateway(16, {**edge_env(edge), **RACE_BUDGET, **chain_env(run_chain)}) as server:
        yield base_url(server)


def request(
    base: str, method: str, path: str, key: str | None = None, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any], dict[str, str]]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers or {})
    req.add_header("content-type", "application/json")
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            raw, status, out = resp.read(), resp.status, dict(resp.headers)
    except urllib.error.HTTPError as err:
        raw, status, out = err.read(), err.code, dict(err.headers)
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        parsed = {"raw": raw.decode()}
    return status, parsed, {k.lower(): v for k, v in out.items()}


@pytest.fixture
def http(gateway: str) -> Http:
    def call(method: str, path: str, key: str | None = None, body: Any = None, **kw: Any) -> Any:
        return request(gateway, method, path, key, body, **kw)

    return call
