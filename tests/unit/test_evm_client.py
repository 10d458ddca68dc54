"""The credit check's JSON-RPC client (luxxon.adapters.evm) over a real socket: a JSON-RPC node of a few lines that
can keep connections alive, drop them silently, answer an HTTP error or stall."""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

from luxxon.adapters.evm import JsonRpcPool
from luxxon.domain.ports import ChainUnavailable

WALLET = "0x" + "ab" * 20
SETTLEMENT = "0x" + "cd" * 20


@dataclass
class Node:
    """How the node behaves, and what it saw."""

    drop_after_reply: bool = False  # close each connection after one reply, without saying so (an idle timeout)
    status: int = 200
    body: bytes | None = None  # None: a JSON-RPC reply echoing each call's id with deposits 7, pending (2, 0)
    stall: threading.Event | None = None
    connections: int = 0
    paths: list[str] = field(default_factory=list)


def _reply(request: bytes) -> bytes:
    out = []
    for call in json.loads(request):
        data = call["params"][0]["data"]
        word = 7 if data.startswith("0xfc7e286d") else 2
        out.append({"jsonrpc": "2.0", "id": call["id"], "result": "0x" + f"{word:064x}" + "0" * 64})
    return json.dumps(out).encode()


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
                length = 0
                while (header := self.rfile.readline()) not in (b"\r\n", b""):
                    name, _, value = header.decode().partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                request = self.rfile.read(length)
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
        yield f"http://127.0.0.1:{server.server_address[1]}/v2/provider-key?x=1"
    finally:
        if behaviour.stall is not None:
            behaviour.stall.set()
        server.shutdown()
        server.server_close()


def test_a_warm_reader_keeps_one_connection_to_the_node() -> None:
    behaviour = Node()
    with node(behaviour) as url:
        pool = JsonRpcPool(url, SETTLEMENT, 2.0)
        answers = [pool.credit(WALLET) for _ in range(5)]

    assert answers == [(7, 2)] * 5
    assert behaviour.connections == 1
    assert behaviour.paths == ["/v2/provider-key?x=1"] * 5  # the provider's key in the path reaches it


def test_a_connection_the_node_dropped_while_idle_is_replaced_and_the_call_answers() -> None:
    behaviour = Node(drop_after_reply=True)
    with node(behaviour) as url:
        pool = JsonRpcPool(url, SETTLEMENT, 2.0)
        answers = [pool.credit(WALLET) for _ in range(3)]

    assert answers == [(7, 2)] * 3
    assert behaviour.connections == 3


@pytest.mark.parametrize(
    ("behaviour", "why"),
    [
        (Node(status=502, body=b"bad gateway"), "HTTP 502"),
        (Node(body=b"<html>"), "not JSON"),
        (Node(body=b'[{"jsonrpc": "2.0", "id": 0, "error": {"code": -32000}}]'), "malformed JSON-RPC batch reply"),
        (Node(stall=threading.Event()), "TimeoutError"),
    ],
)
def test_a_node_that_does_not_answer_a_credit_read_is_unavailable(behaviour: Node, why: str) -> None:
    with node(behaviour) as url, pytest.raises(ChainUnavailable, match=why):
        JsonRpcPool(url, SETTLEMENT, 0.5).credit(WALLET)


def test_a_refused_port_is_unavailable() -> None:
    with node(Node()) as url:
        port_in_use_then_freed = url
    with pytest.raises(ChainUnavailable, match="ConnectionRefusedError"):
        JsonRpcPool(port_in_use_then_freed, SETTLEMENT, 0.5).credit(WALLET)
