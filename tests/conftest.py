"""Shared fixtures: a fresh PostgreSQL + PostGIS database per test run, and in-process API calls."""

from __future__ import annotations

import base64
import itertools
import json
import os
import secrets
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Every `node` a test starts (the jsii runtime under aws_cdk, build.mjs) is the project's pinned Node, first on PATH as
# under make: set here, before a test module imports aws_cdk (which starts jsii's node).
NODE_BIN = ROOT / "layers" / "contracts" / "node_modules" / ".bin"
os.environ["PATH"] = os.pathsep.join([str(NODE_BIN), os.environ.get("PATH", "")])
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "LuxxonTest")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
# The run's consistency-token key, as `make run` makes one: every process of the run (the gateway's workers too) seals
# with it, so a token opens in any of them and an idempotent replay carries the first response's token.
os.environ.setdefault("LX_CONSISTENCY_TOKEN_KEY", secrets.token_urlsafe(32))


@pytest.fixture(scope="session", autouse=True)
def flat_pricing() -> Iterator[None]:
    """The rate is the base rate everywhere in this run (floor = ceiling = 100 %): tests share one database, where
    supply and demand around a point change as other tests run. tests/integration/test_pricing.py checks the live
    formula with the real bounds."""
    from luxxon.config import get_settings

    with pytest.MonkeyPatch.context() as env:
        env.setenv("LX_PRICE_FLOOR_PERCENT", "100")
        env.setenv("LX_PRICE_CEILING_PERCENT", "100")
        get_settings.cache_clear()
        yield
    get_settings.cache_clear()


@contextmanager
def private_redis() -> Iterator[str]:
    """A private Redis (Debian's redis-server on a free port, nothing on disk) until the block ends; yields its URL.
    The tests' frame store uses one (`redis_url`), and so does the decoder bench."""
    import socket
    import subprocess
    import time

    executable = shutil.which("redis-server")
    if executable is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server; .ci/run installs it)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [executable, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("the private Redis did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="session", autouse=True)
def redis_url() -> Iterator[str]:
    """A private Redis for this run, used by the frame store through LX_REDIS_URL. Tests never depend on a Redis
    someone else left running."""
    from luxxon.config import get_settings

    with private_redis() as url, pytest.MonkeyPatch.context() as env:
        env.setenv("LX_REDIS_URL", url)
        get_settings.cache_clear()
        yield url
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A brand-new, migrated database for this run; dropped at the end. Never depends on leftovers."""
    from luxxon.config import get_settings
    from luxxon.db import connection, server
    from luxxon.local import database

    admin = database.server_url(ROOT / ".local")
    database.ensure_postgis(admin)
    name = f"lx_test_{uuid.uuid4().hex[:12]}"
    url = server.create_database(admin, name)
    previous = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = url
    get_settings.cache_clear()
    connection.reset()
    yield url
    connection.reset()
    if previous is None:
        os.environ.pop("DATABASE_URL", None)
    else:
        os.environ["DATABASE_URL"] = previous
    get_settings.cache_clear()
    server.drop_database(admin, name)


@dataclass
class Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def data(self) -> Any:
        return self.body["data"]

    raw_bytes: bytes = b""

    @property
    def error(self) -> tuple[str, str | None]:
        return self.body["code"], self.body.get("detail")


Api = Callable[..., Reply]


def call_api(
    method: str,
    path: str,
    key: str | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
    raw_body: str | None = None,
) -> Reply:
    """Invoke the handler module that the route table maps (method, path) to, with an API Gateway proxy event.

    The event is the local gateway's (`build_event`): a body arrives base64-encoded, as the deployed API's
    `binaryMediaTypes: */*` sends it.
    """
    from urllib.parse import urlsplit

    from luxxon.local.gateway import build_event, invoke, match

    url = urlsplit(path)
    found = match(method, url.path)
    assert found is not None, f"no route for {method} {url.path}"
    route, params = found
    all_headers = {"content-type": "application/json", **(headers or {})}
    if key is not None:
        all_headers["Authorization"] = f"Bearer {key}"
    payload = raw_body if raw_body is not None else (json.dumps(body) if body is not None else "")
    event = build_event(route, method, url.path, params, url.query, all_headers, payload.encode())
    return reply_of(invoke(route.module, event))


def call_event(event: dict[str, Any]) -> Reply:
    """Invoke the handler module the route table maps the event's method and path to with `event` as it is (an API
    Gateway event recorded elsewhere: tests/integration/test_api_gateway_events.py), as the Lambda runtime would."""
    from luxxon.local.gateway import invoke, match

    found = match(event["httpMethod"], event["path"])
    assert found is not None, f"no route for {event['httpMethod']} {event['path']}"
    return reply_of(invoke(found[0].module, event))


def reply_of(result: dict[str, Any]) -> Reply:
    """A handler's proxy result, as the client gets it."""
    text = result.get("body") or ""
    out = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
    out |= {k.lower(): ", ".join(v) for k, v in (result.get("multiValueHeaders") or {}).items()}
    parsed = json.loads(text) if text and "json" in out.get("content-type", "") else {"raw": text}
    raw = base64.b64decode(text) if result.get("isBase64Encoded") else text.encode()
    return Reply(int(result["statusCode"]), parsed, out, raw)


@pytest.fixture
def own_connections(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Give each thread its own database connection in the named data-layer modules (as separate Lambda sandboxes
    have), so a test can race units of work in threads: `own_connections("luxxon.db.sessions", ...)`."""
    import contextlib
    import threading

    import psycopg
    from psycopg.rows import dict_row

    local = threading.local()

    def connection() -> psycopg.Connection[Any]:
        if getattr(local, "conn", None) is None:
            local.conn = psycopg.connect(database_url, autocommit=True, row_factory=dict_row)
        conn: psycopg.Connection[Any] = local.conn
        return conn

    @contextlib.contextmanager
    def transaction() -> Iterator[psycopg.Connection[Any]]:
        with connection().transaction():
            yield connection()

    def install(*modules: str) -> None:
        # The shared helpers (fetch_one, fetch_all) look the connection up in luxxon.db.connection itself.
        for module in ("luxxon.db.connection", *modules):
            monkeypatch.setattr(f"{module}.connection", connection)
            with contextlib.suppress(AttributeError):
                monkeypatch.setattr(f"{module}.transaction", transaction)

    return install


@pytest.fixture
def api(database_url: str) -> Api:
    return call_api


@dataclass(frozen=True)
class Workspace:
    id: str
    key: str
    key_id: str


WorkspaceFactory = Callable[..., Workspace]
# Where tests request sessions when the place does not matter: (1, 1) ± a few hundred km.
TEST_AREA = (1.0, 1.0, 400_000.0)
# Every place tests share (lat, lng, the widest radius in metres any test gives an area there): TEST_AREA, and the
# places test modules name (Bogotá with the contract fuzz's 50 km area, Santiago's inbox, the null island).
SHARED_PLACES = (TEST_AREA, (4.71, -74.07, 50_000.0), (-33.45, -70.66, 3_000.0), (0.0, 0.0, 1_000.0))
# unique_place's grid: a band of the Southern Ocean no shared place comes near, one point every half degree.
_GRID_LATS = [-45.5 - 0.5 * i for i in range(29)]  # 45.5°S to 59.5°S
_GRID_LNGS = [-170.0 + 0.5 * i for i in range(680)]  # 170°W to 169.5°E: ≥ 28 km apart even at 59.5°S
_places = itertools.count()


def unique_place() -> tuple[dict[str, float], tuple[float, float, float]]:
    """A point no other test requests at, and a 2 km coverage area around it: for tests that read an inbox (oldest
    first, 20 a page) or price a place (supply and demand within 5 km) in a database other tests fill.

    Each call takes the next point of a grid far from every shared place (SHARED_PLACES) whose points are ≥ 28 km
    apart: no draw can land in another test's area, whatever the run's random state."""
    n = next(_places)
    assert n < len(_GRID_LATS) * len(_GRID_LNGS), "unique_place's grid is used up"
    lat, lng = _GRID_LATS[n % len(_GRID_LATS)], _GRID_LNGS[n // len(_GRID_LATS)]
    return {"lat": lat, "lng": lng}, (lat, lng, 2_000.0)


@pytest.fixture(scope="session")
def chain() -> Iterator[Any]:
    """One anvil per test run (started on first use) with the real compiled contracts deployed, as `make run` does."""
    from luxxon.local.chain import deploy_local, start_anvil
    from tests.chain.driver import Chain

    anvil = start_anvil()
    try:
        yield Chain(deploy_local(anvil.rpc_url))
    finally:
        anvil.stop()


FUNDS = 10**15  # µUSDC each consumer a test creates gets in its pool: far more than any test holds


@pytest.fixture(scope="session")
def run_chain(chain: Any) -> Iterator[Any]:
    """The API's chain for this run (the credit check at POST /sessions reads it): the run's anvil and contract,
    whose deployer (the test token's minter) holds test USDC to fund the consumers tests create."""
    from luxxon import wiring
    from luxxon.config import get_settings

    with pytest.MonkeyPatch.context() as env:
        env.setenv("LX_CHAIN_RPC_URL", chain.local.rpc_url)
        env.setenv("LX_CHAIN_SETTLEMENT_ADDRESS", chain.local.settlement)
        get_settings.cache_clear()
        wiring.reset()
        chain.mint(chain.owner, 10**30)
        chain.send(chain.token.functions.approve(chain.settlement.address, 2**256 - 1), chain.owner)
        yield chain
    get_settings.cache_clear()
    wiring.reset()


def fund_consumer(chain: Any, address: str) -> None:
    """Deposit FUNDS into `address`'s pool on the run's contract (one transaction, from the deployer)."""
    from web3 import Web3

    chain.send(chain.settlement.functions.depositFor(Web3.to_checksum_address(address), FUNDS), chain.owner)


def random_wallet() -> str:
    """An address nobody holds a key to: enough for a workspace whose sessions are never settled on chain."""
    import secrets

    return "0x" + secrets.token_hex(20)


@pytest.fixture
def workspace(database_url: str, run_chain: Any) -> WorkspaceFactory:
    """Create a workspace with its first key (through the admin bootstrap, as a local user would)."""
    from luxxon import wiring
    from luxxon.admin.cli import DEFAULT_SCOPES

    def make(
        *roles: str,
        scopes: list[str] | None = None,
        coverage: tuple[float, float, float] | None | bool = None,
        availability: str = "ONLINE",
        wallet: bool = True,
    ) -> Workspace:
        roles_list = list(roles or ("CONSUMER",))
        chosen = scopes if scopes is not None else sorted({s for r in roles_list for s in DEFAULT_SCOPES[r]})
        if coverage is None and "SUPPLIER" in roles_list:
            coverage = TEST_AREA  # a supplier covers the points tests request unless told otherwise
        area = coverage if isinstance(coverage, tuple) else None  # False: no coverage area at all
        address = random_wallet() if wallet else None  # sessions are settled between wallets
        ws, key = wiring.workspaces().bootstrap(
            f"ws-{uuid.uuid4().hex[:6]}", roles_list, chosen, availability, address, area
        )
        if address is not None and "CONSUMER" in roles_list:  # a pool that covers what the test requests
            fund_consumer(run_chain, address)
        return Workspace(ws.id, key.key, key.id)

    return make


EDGE_TOKEN = "edge-token-for-tests"
WEBHOOK_SECRET = "whsec-for-tests"


@dataclass
class RunningEdge:
    api_base: str
    token: str
    loop: Any
    edge: Any

    def client(self) -> Any:
        from luxxon.adapters.video import CloudflareStream

        return CloudflareStream("local", self.token, base_url=self.api_base)


@pytest.fixture(scope="session")
def edge() -> Iterator[RunningEdge]:
    """The local video edge (Cloudflare Stream's live-input contract + WHIP/WHEP) on a loop of its own."""
    import asyncio
    import threading

    from luxxon.local.edge import start_edge

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    running = asyncio.run_coroutine_threadsafe(start_edge(token=EDGE_TOKEN), loop).result(30)
    yield RunningEdge(running.api_base, EDGE_TOKEN, loop, running)
    asyncio.run_coroutine_threadsafe(running.close(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


@pytest.fixture
def video_env(edge: RunningEdge, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningEdge]:
    """Point the API's video backend at the local edge and set the webhook secret (as `make run` does)."""
    from luxxon import wiring
    from luxxon.config import get_settings

    monkeypatch.setenv("LX_CLOUDFLARE_API_BASE", edge.api_base)
    monkeypatch.setenv("LX_CLOUDFLARE_ACCOUNT_ID", "local")
    monkeypatch.setenv("LX_CLOUDFLARE_API_TOKEN", edge.token)
    monkeypatch.setenv("LX_STREAM_WEBHOOK_SECRET", WEBHOOK_SECRET)
    get_settings.cache_clear()
    wiring.reset()
    yield edge
    monkeypatch.undo()
    get_settings.cache_clear()
    wiring.reset()


# -- sessions with a video plane (the local edge) ---------------------------------------------------------------
@pytest.fixture
def parties(workspace: WorkspaceFactory) -> tuple[Workspace, Workspace]:
    return workspace("CONSUMER"), workspace("SUPPLIER")


def assigned(api: Api, consumer: Workspace, operator: Workspace) -> str:
    session_id = api("POST", "/api/v1/sessions", consumer.key, {"lat": 1, "lng": 2}).data["id"]
    assert api("POST", f"/api/v1/sessions/{session_id}/accept", operator.key).status == 200
    return session_id


def started(api: Api, consumer: Workspace, operator: Workspace) -> dict:
    session_id = assigned(api, consumer, operator)
    reply = api("POST", f"/api/v1/sessions/{session_id}/start", operator.key)
    assert reply.status == 200, reply.body
    return reply.data
