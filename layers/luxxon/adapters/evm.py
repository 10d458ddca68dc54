"""Reads of the settlement contract by plain JSON-RPC `eth_call` (`ports.WalletReader`).

Standard library only (http.client, hand-encoded calls), so an API handler that reads a wallet's pool imports no web3
(~0.5 s of cold start). The three views are read in one JSON-RPC batch pinned to one block, so they agree.
The connection to the RPC is kept alive (one per thread), so a warm Lambda pays no TCP/TLS handshake per request.
The selectors are the first 4 bytes of keccak256 of each signature; tests/chain check them against the ABI.
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.parse
from typing import Any

from luxxon.domain.ports import ChainUnavailable, PoolState

DEPOSITS = "0xfc7e286d"  # deposits(address) -> uint256
PENDING_WITHDRAWAL = "0x0964c95b"  # pendingWithdrawal(address) -> (uint256 amount, uint256 unlocksAt)
OWED = "0xdf18e047"  # owed(address) -> uint256


def encode_address(address: str) -> str:
    """An address argument: 20 bytes, left-padded to a 32-byte word (hex, no 0x)."""
    raw = address.lower().removeprefix("0x")
    if len(raw) != 40 or any(c not in "0123456789abcdef" for c in raw):
        raise ValueError("not an address")
    return raw.rjust(64, "0")


def decode_words(data: str) -> list[int]:
    """The 32-byte words of a return value, as unsigned integers."""
    raw = data.removeprefix("0x")
    if len(raw) % 64:
        raise ChainUnavailable("malformed eth_call result")
    return [int(raw[i : i + 64], 16) for i in range(0, len(raw), 64)]


class JsonRpcPool:
    def __init__(self, rpc_url: str, settlement: str, timeout_s: float) -> None:
        url = urllib.parse.urlsplit(rpc_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ChainUnavailable("the RPC URL is not http(s)")
        self._https = url.scheme == "https"
        self._host, self._port = url.hostname, url.port
        self._path = (url.path or "/") + (f"?{url.query}" if url.query else "")  # providers put their key here
        self.settlement = settlement
        self.timeout_s = timeout_s
        self._local = threading.local()

    def head(self) -> int:
        (result,) = self._batch([("eth_blockNumber", [])])
        return int(result, 16)

    def pool(self, wallet: str) -> PoolState:
        block = self.head()
        tag = hex(block)
        arg = encode_address(wallet)
        calls = [
            ("eth_call", [{"to": self.settlement, "data": selector + arg}, tag])
            for selector in (DEPOSITS, PENDING_WITHDRAWAL, OWED)
        ]
        deposits, pending, owed = (decode_words(r) for r in self._batch(calls))
        return PoolState(
            block=block,
            deposits=deposits[0],
            pending_withdrawal=pending[0],
            withdrawal_unlocks_at=pending[1],
            owed=owed[0],
        )

    def credit(self, wallet: str) -> tuple[int, int]:
        arg = encode_address(wallet)
        calls = [
            ("eth_call", [{"to": self.settlement, "data": selector + arg}, "latest"])
            for selector in (DEPOSITS, PENDING_WITHDRAWAL)
        ]
        deposits, pending = (decode_words(r) for r in self._batch(calls))
        return deposits[0], pending[0]

    def _batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        body = json.dumps(
            [
                {"jsonrpc": "2.0", "id": i, "method": method, "params": params}
                for i, (method, params) in enumerate(calls)
            ]
        ).encode()
        try:
            replies = json.loads(self._post(body))
        except ValueError:
            raise ChainUnavailable("not JSON") from None
        if not isinstance(replies, list) or len(replies) != len(calls):
            raise ChainUnavailable("malformed JSON-RPC batch reply")
        by_id = {r.get("id"): r for r in replies if isinstance(r, dict)}
        results = []
        for i in range(len(calls)):
            reply = by_id.get(i)
            if reply is None or "error" in reply or "result" not in reply:
                raise ChainUnavailable("JSON-RPC error")
            results.append(reply["result"])
        return results

    def _post(self, body: bytes) -> bytes:
        """One POST on this thread's kept-alive connection. A kept-alive connection the server has closed meanwhile
        fails on first use: then once more on a new one (every call here is a read, safe to repeat)."""
        while True:
            connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
            reused = connection is not None
            if connection is None:
                kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
                connection = self._local.connection = kind(self._host, self._port, timeout=self.timeout_s)
            try:
                connection.request("POST", self._path, body, {"content-type": "application/json"})
                response = connection.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as error:  # refused, reset, timed out, garbled
                connection.close()
                self._local.connection = None
                if reused and not isinstance(error, TimeoutError):
                    continue
                raise ChainUnavailable(type(error).__name__) from None
            if response.will_close:
                connection.close()
                self._local.connection = None
            if response.status != 200:
                raise ChainUnavailable(f"HTTP {response.status}")
            return data
