"""Reads of the settlement contract by plain JSON-RPC `eth_call` (`ports.money.WalletReader`).

Standard library only (http.client, hand-encoded calls), so an API handler that reads a wallet's pool imports no web3
(~0.5 s of cold start). The wallet view's three reads are one JSON-RPC batch pinned to one block, so they agree; the
credit check's are one `eth_call` of a constructor that reads them and returns its block (`CreditReader`).
The connection to the RPC is kept alive (one per thread), so a warm Lambda pays no TCP/TLS handshake per request.
The selectors are the first 4 bytes of keccak256 of each signature; tests/chain check them against the ABI.
"""

from __future__ import annotations

import base64
import http.client
import json
import threading
import time
import urllib.parse
from typing import Any

from luxxon import contracts
from luxxon.domain.ports.money import ChainUnavailable, Credit, PoolState

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


# A kept-alive connection idle longer than this is not reused: RPC providers and load balancers drop idle ones after
# ~60 s, and a frozen Lambda's socket can be dead without a reset, which would cost a whole timeout to find out.
IDLE_REUSE_S = 15.0


class JsonRpcPool:
    def __init__(
        self,
        rpc_url: str,
        settlement: str,
        timeout_s: float,
        chain_id: int | None = None,
        idle_reuse_s: float = IDLE_REUSE_S,
    ) -> None:
        url = urllib.parse.urlsplit(rpc_url)
        try:
            port = url.port
        except ValueError:  # a port that is not a number
            raise ChainUnavailable("the RPC URL's port is not a number") from None
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ChainUnavailable("the RPC URL is not http(s)")
        self._host: str = url.hostname
        self._port = port
        self._https = url.scheme == "https"
        self._path = (url.path or "/") + (f"?{url.query}" if url.query else "")  # providers put their key here
        self._headers = {"content-type": "application/json", "user-agent": "luxxon-credit/1"}
        if url.username is not None:  # https://user:secret@host/ (basic auth, as some providers issue)
            userinfo = f"{urllib.parse.unquote(url.username)}:{urllib.parse.unquote(url.password or '')}"
            self._headers["authorization"] = "Basic " + base64.b64encode(userinfo.encode()).decode()
        self.settlement = settlement
        self.timeout_s = timeout_s
        self.chain_id = chain_id
        self.idle_reuse_s = idle_reuse_s
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

    def credit(self, wallet: str) -> Credit:
        """One `eth_call` of CreditReader's creation code (never deployed: no `to`). Its constructor reads deposits
        and the pending withdrawal and returns them with `block.number`, so all three come from one execution."""
        data = (
            contracts.load(contracts.CREDIT_READER).bytecode + encode_address(self.settlement) + encode_address(wallet)
        )
        (result,) = self._batch([("eth_call", [{"data": data}, "latest"])])
        words = decode_words(result)
        if len(words) != 3:
            raise ChainUnavailable("malformed CreditReader result")
        block, deposits, pending = words
        return Credit(block=block, deposits=deposits, pending_withdrawal=pending)

    def _batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """The results of `calls`, sent as one JSON-RPC batch. With `chain_id`, the batch also asks the node which
        chain it serves (same round trip) and refuses another."""
        if self.chain_id is not None:
            *results, served = self._send([*calls, ("eth_chainId", [])])
            if int(served, 16) != self.chain_id:
                raise ChainUnavailable(f"the RPC serves chain {int(served, 16)}, not {self.chain_id}")
            return results
        return self._send(calls)

    def _send(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
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
        """One POST on this thread's kept-alive connection (a new one when it has none, or when it idled past
        `idle_reuse_s`). A kept-alive connection the server closed meanwhile fails on first use: then once more on a
        new one (every call here is a read, safe to repeat). A timeout is not repeated: the node is slow, not gone."""
        while True:
            connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
            if connection is not None and time.monotonic() - self._local.used > self.idle_reuse_s:
                connection.close()
                connection = None
            reused = connection is not None
            if connection is None:
                kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
                connection = self._local.connection = kind(self._host, self._port, timeout=self.timeout_s)
            try:
                connection.request("POST", self._path, body, self._headers)
                response = connection.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as error:  # refused, reset, timed out, garbled
                connection.close()
                self._local.connection = None
                if reused and not isinstance(error, TimeoutError):
                    continue
                raise ChainUnavailable(type(error).__name__) from None
            self._local.used = time.monotonic()
            if response.will_close:
                connection.close()
                self._local.connection = None
            if response.status != 200:
                raise ChainUnavailable(f"HTTP {response.status}")
            return data
