"""The credit check at POST /sessions, against the real local chain: deposits − pending withdrawal − holds must cover
rate × maxDurationSeconds, serialized per wallet; a top-up is seen at once; no chain, no session."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from luxxon import wiring
from luxxon.domain.ports.workspaces import Principal
from luxxon.errors import LxError
from luxxon.models.sessions import CreateSessionRequest
from tests.chain.driver import Chain
from tests.chain.plane import Plane, ended, reset_settings, settlement, with_wallet
from tests.conftest import Api, Workspace, WorkspaceFactory

HOLD = 1000 * 60  # the flat rate × 60 s


def _create(api: Api, key: str) -> Any:
    return api("POST", "/api/v1/sessions", key, {"lat": 1, "lng": 2, "maxDurationSeconds": 60})


def _sessions(api: Api, key: str) -> int:
    return len(api("GET", "/api/v1/sessions?limit=100", key).data["items"])


def test_a_pool_is_exhausted_by_holds_and_a_top_up_clears_the_very_next_create(
    api: Api, workspace: WorkspaceFactory, chain: Chain, plane: Plane
) -> None:
    consumer, wallet = with_wallet(workspace, chain, "CONSUMER")
    plane.fund(wallet, 3 * HOLD + HOLD // 2)
    for _ in range(3):
        assert _create(api, consumer.key).status == 201
    refused = _create(api, consumer.key)
    assert (refused.status, refused.error) == (400, ("INSUFFICIENT_CREDIT", "credit:insufficient"))
    assert _sessions(api, consumer.key) == 3  # nothing created
    # The wallet view says why: three holds, less than a hold available
    view = api("GET", "/api/v1/wallet", consumer.key).data
    assert (view["holdsMicroUsdc"], view["availableMicroUsdc"]) == (str(3 * HOLD), str(HOLD // 2))
    # A top-up is seen by the very next request
    plane.fund(wallet, HOLD // 2)
    assert _create(api, consumer.key).status == 201
    # A pending withdrawal is not available either
    plane.fund(wallet, HOLD)
    plane.chain.send(plane.contract.functions.requestWithdrawal(1), wallet)
    assert _create(api, consumer.key).error == ("INSUFFICIENT_CREDIT", "credit:insufficient")
    # A cancelled session holds nothing any more
    first = api("GET", "/api/v1/sessions?limit=100", consumer.key).data["items"][-1]["id"]
    assert api("DELETE", f"/api/v1/sessions/{first}", consumer.key).status == 200
    assert _create(api, consumer.key).status == 201


def test_twenty_concurrent_creates_against_a_balance_for_five_create_exactly_five(
    api: Api, workspace: WorkspaceFactory, chain: Chain, plane: Plane, own_connections: Any
) -> None:
    # Two workspaces sharing one wallet: the holds of both draw on it
    first, wallet = with_wallet(workspace, chain, "CONSUMER")
    second = workspace("CONSUMER")
    wiring.workspaces().attach_wallet(second.id, wallet)
    plane.fund(wallet, 5 * HOLD)
    own_connections("luxxon.db.sessions", "luxxon.db.pricing", "luxxon.db.idempotency")
    barrier = threading.Barrier(20)
    statuses: list[int] = []
    request = CreateSessionRequest(lat=1, lng=2, maxDurationSeconds=60)

    def create(ws: Workspace) -> None:
        me = Principal(ws.id, ws.key_id, frozenset({"sessions:create"}), frozenset({"CONSUMER"}))
        barrier.wait()
        try:
            wiring.sessions().create(me, request)
            statuses.append(201)
        except LxError as error:
            assert error.detail == "credit:insufficient"
            statuses.append(400)

    # Each on its own connection (as twenty Lambda sandboxes), released together
    threads = [threading.Thread(target=create, args=((first, second)[i % 2],)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201] * 5 + [400] * 15
    assert _sessions(api, first.key) + _sessions(api, second.key) == 5


def test_an_rpc_serving_another_chain_than_lx_chain_id_is_refused_and_nothing_is_created(
    api: Api, workspace: WorkspaceFactory, chain: Chain, plane: Plane, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same deployer key at the same nonce gives the same contract address on every chain: a testnet RPC in
    production's secret would read testnet pools. With LX_CHAIN_ID set, the node must say it serves that chain."""
    consumer, wallet = with_wallet(workspace, chain, "CONSUMER")
    plane.fund(wallet, 10 * HOLD)
    monkeypatch.setenv("LX_CHAIN_ID", "8453")  # Base; the node is anvil (31337)
    reset_settings()
    refused = _create(api, consumer.key)
    assert (refused.status, refused.error) == (503, ("CHAIN_UNAVAILABLE", "chain:unreachable"))
    assert api("GET", "/api/v1/wallet", consumer.key).error == ("CHAIN_UNAVAILABLE", "chain:unreachable")
    assert _sessions(api, consumer.key) == 0
    monkeypatch.setenv("LX_CHAIN_ID", str(chain.w3.eth.chain_id))
    reset_settings()
    assert _create(api, consumer.key).status == 201
    assert api("GET", "/api/v1/wallet", consumer.key).status == 200


def test_without_the_chain_nothing_is_created_and_it_works_again_when_the_chain_is_back(
    api: Api, workspace: WorkspaceFactory, chain: Chain, plane: Plane, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer, wallet = with_wallet(workspace, chain, "CONSUMER")
    plane.fund(wallet, 10 * HOLD)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        monkeypatch.setenv("LX_CHAIN_RPC_URL", f"http://127.0.0.1:{closed.getsockname()[1]}")
    reset_settings()
    down = _create(api, consumer.key)
    assert (down.status, down.error) == (503, ("CHAIN_UNAVAILABLE", "chain:unreachable"))
    assert _sessions(api, consumer.key) == 0
    monkeypatch.setenv("LX_CHAIN_RPC_URL", chain.local.rpc_url)
    reset_settings()
    assert _create(api, consumer.key).status == 201


@contextmanager
def lagging_node(upstream: str, block: int) -> Iterator[str]:
    """A JSON-RPC endpoint in front of anvil that answers `latest` as of an older block: a load-balanced provider
    whose node is behind the one the indexer read."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            replies = [self._answer(call) for call in (body if isinstance(body, list) else [body])]
            answer = json.dumps(replies if isinstance(body, list) else replies[0]).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        @staticmethod
        def _answer(call: dict[str, Any]) -> Any:
            if call["method"] == "eth_blockNumber":
                return {"jsonrpc": "2.0", "id": call["id"], "result": hex(block)}
            call["params"] = [hex(block) if p == "latest" else p for p in call.get("params", [])]
            request = urllib.request.Request(upstream, json.dumps(call).encode(), {"content-type": "application/json"})
            with urllib.request.urlopen(request) as reply:  # noqa: S310 - the test's anvil
                return json.loads(reply.read())

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_charge_settled_after_the_block_the_pool_was_read_at_still_counts_as_held(
    api: Api, workspace: WorkspaceFactory, chain: Chain, plane: Plane, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The credit read comes from a node that has not seen a settlement the indexer already CONFIRMED: its pool still
    contains that charge, so the charge must still be held, or the consumer could commit it twice."""
    consumer, wallet = with_wallet(workspace, chain, "CONSUMER")
    operator = workspace("SUPPLIER")
    plane.fund(wallet, 1_000_000)
    done = ended(api, consumer, operator, 100)  # 100 s at the flat rate: charge 100,000 µUSDC
    charge = int(done["chargedMicroUsdc"])
    before = chain.w3.eth.block_number
    assert plane.relayer().settle([done["id"]]) == set()
    chain.rpc("evm_mine")
    plane.indexer().run()
    assert settlement(api, consumer.key, done["id"]).data["status"] == "CONFIRMED"

    with lagging_node(chain.local.rpc_url, before) as behind:
        monkeypatch.setenv("LX_CHAIN_RPC_URL", behind)
        reset_settings()
        view = api("GET", "/api/v1/wallet", consumer.key).data
        assert (view["block"], view["depositsMicroUsdc"]) == (before, "1000000")  # the charge still in the pool
        assert view["holdsMicroUsdc"] == str(charge)  # and still held there
        over = {"lat": 1, "lng": 2, "maxDurationSeconds": (1_000_000 - charge) // 1000 + 1}
        refused = api("POST", "/api/v1/sessions", consumer.key, over)
        assert (refused.status, refused.error) == (400, ("INSUFFICIENT_CREDIT", "credit:insufficient"))
        exact = {"lat": 1, "lng": 2, "maxDurationSeconds": (1_000_000 - charge) // 1000}
        assert api("POST", "/api/v1/sessions", consumer.key, exact).status == 201
