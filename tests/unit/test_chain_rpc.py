"""The credit check's JSON-RPC client (luxxon.adapters.chain_rpc) over a real socket: a JSON-RPC node of a few lines
that can keep connections alive, drop them silently, answer an HTTP error or stall. (What the call computes on a real
chain is tested in tests/chain/test_credit.py.)"""

from __future__ import annotations

import base64
import json
import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

from luxxon.adapters.chain_rpc import JsonRpcPool
from luxxon.domain.ports.money import ChainUnavailable, Credit

WALLET = "0x" + "ab" * 20
SETTLEMENT = "0x" + "cd" * 20


@dataclass
class Node:
    """How the node behaves, and what it saw."""

    drop_after_reply: bool = False  # close each connection after one reply, without saying so (an idle timeout)
    status: int = 200
    body: bytes | None = None  # None: a JSON-RPC reply to each call: block 9, deposits 7, pending withdrawal 2
    stall: threading.Event | None = None
    connections: int = 0
    paths: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)


def _reply(request: bytes) -> bytes:
    words = "0x" + "".join(f"{w:064x}" for w in (9, 7, 2))
    results = {"eth_call": words, "eth_chainId": hex(31337)}
    calls = json.loads(request)
    return json.dumps([{"jsonrpc": "2.0", "id": c["id"], "result": results[c["method"]]} for c in calls]).encode()


@contextmanager
def node(behaviour: Node) -> Iterator[str]:
    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            behaviour.connections += 1
            while True:
                line = self.rfile.readline()
                if not line:
                    return
                behaviour.paths.append(line.split()[1].decode())
                headers = {}
                while (header := self.rfile.readline()) not in (b"\r\n", b""):
                    name, _, value = header.decode().partition(":")
                    headers[name.lower()] = value.strip()
                behaviour.headers.append(headers)
                request = self.rfile.read(int(headers.get("content-length", 0)))
                if behaviour.stall is not None:
                    behaviour.stall.wait(5)
                    return
                body = _reply(request) if behaviour.body is None else behaviour.body
                head = f"HTTP/1.1 {behaviour.status} X\r\ncontent-type: application/json\r\ncontent-length: {len(body)}"
                self.wfile.write(head.encode() + b"\r\n\r\n" + body)
                self.wfile.flush()
                if behaviour.drop_after_reply:
                    return

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        if behaviour.stall is not None:
            behaviour.stall.set()
        server.shutdown()
        server.server_close()


def test_a_warm_reader_keeps_one_connection_to_the_node() -> None:
    behaviour = Node()
    with node(behaviour) as url:
        pool = JsonRpcPool(url + "/v2/provider-key?x=1", SETTLEMENT, 2.0)
        answers = [pool.credit(WALLET) for _ in range(5)]

    assert answers == [Credit(block=9, deposits=7, pending_withdrawal=2)] * 5
    assert behaviour.connections == 1
    assert behaviour.paths == ["/v2/provider-key?x=1"] * 5  # the provider's key in the path reaches it
    assert behaviour.headers[0]["user-agent"]  # some provider front ends refuse a request without one


def test_a_connection_idle_past_the_reuse_window_is_not_reused() -> None:
    behaviour = Node()
    with node(behaviour) as url:
        pool = JsonRpcPool(url, SETTLEMENT, 2.0, idle_reuse_s=0.05)
        pool.credit(WALLET)
        time.sleep(0.1)
        pool.credit(WALLET)

    assert behaviour.connections == 2


def test_credentials_in_the_url_are_sent_as_basic_auth() -> None:
    behaviour = Node()
    with node(behaviour) as url:
        JsonRpcPool(url.replace("http://", "http://me:s%40cret@"), SETTLEMENT, 2.0).credit(WALLET)

    assert behaviour.headers[0]["authorization"] == "Basic " + base64.b64encode(b"me:s@cret").decode()


def test_a_connection_the_node_dropped_while_idle_is_replaced_and_the_call_answers() -> None:
    behaviour = Node(drop_after_reply=True)
    with node(behaviour) as url:
        pool = JsonRpcPool(url, SETTLEMENT, 2.0)
        answers = [pool.credit(WALLET) for _ in range(3)]

    assert answers == [Credit(block=9, deposits=7, pending_withdrawal=2)] * 3
    assert behaviour.connections == 3


@pytest.mark.parametrize(
    ("behaviour", "why"),
    [
        (Node(status=502, body=b"bad gateway"), "HTTP 502"),
        (Node(body=b"<html>"), "not JSON"),
        (Node(body=b'[{"jsonrpc": "2.0", "id": 0, "error": {"code": -32000}}]'), "JSON-RPC error"),
        (Node(body=b"[]"), "malformed JSON-RPC batch reply"),
        (Node(body=b'[{"jsonrpc": "2.0", "id": 0, "result": "0x' + b"0" * 128 + b'"}]'), "malformed CreditReader"),
        (Node(stall=threading.Event()), "TimeoutError"),
    ],
)
def test_a_node_that_does_not_answer_a_credit_read_is_unavailable(behaviour: Node, why: str) -> None:
    with node(behaviour) as url, pytest.raises(ChainUnavailable, match=why):
        JsonRpcPool(url, SETTLEMENT, 0.5).credit(WALLET)


def test_with_a_chain_id_the_node_must_serve_that_chain_in_the_same_round_trip() -> None:
    behaviour = Node()
    with node(behaviour) as url:
        assert JsonRpcPool(url, SETTLEMENT, 2.0, chain_id=31337).credit(WALLET).deposits == 7
        with pytest.raises(ChainUnavailable, match="serves chain 31337, not 8453"):
            JsonRpcPool(url, SETTLEMENT, 2.0, chain_id=8453).credit(WALLET)

    assert len(behaviour.paths) == 2  # one request each: the chain id rides in the batch


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/", "http://127.0.0.1:port/", "not a url"])
def test_an_rpc_url_that_is_not_http_is_unavailable_not_a_crash(url: str) -> None:
    with pytest.raises(ChainUnavailable):
        JsonRpcPool(url, SETTLEMENT, 0.5)


def test_a_refused_port_is_unavailable() -> None:
    with node(Node()) as url:
        port_in_use_then_freed = url
    with pytest.raises(ChainUnavailable, match="ConnectionRefusedError"):
        JsonRpcPool(port_in_use_then_freed, SETTLEMENT, 0.5).credit(WALLET)
