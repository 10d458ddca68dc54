"""The whole flow on the local system (`make demo`, with `make run` in another terminal):

consumer requests → supplier accepts and starts → a synthetic camera publishes over WHIP → the decoder buffers
the first frame and the session turns LIVE → the consumer saves .local/frame.jpg → it ends → the relayer settles it
on the local chain → the settlement transaction, the amount, and the consumer's pool before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from luxxon import wiring
from luxxon.admin.cli import DEFAULT_SCOPES, fund
from luxxon.admin.devnet import MICRO_USDC_PER_USDC, dev_account
from luxxon.domain.states import SessionState
from luxxon.local.camera import publish


def call(api: str, method: str, path: str, key: str, body: Any = None) -> tuple[int, Any, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(api + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {key}")
    request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw, status, kind = response.read(), response.status, response.headers.get("content-type", "")
    except urllib.error.HTTPError as error:
        raw, status, kind = error.read(), error.code, error.headers.get("content-type", "")
    return status, (json.loads(raw) if "json" in kind else None), raw


def step(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def workspace(name: str, roles: list[str], availability: str = "OFFLINE", coverage: Any = None) -> tuple[str, str]:
    """A workspace with a dev wallet on the local chain (as `python -m luxxon.admin create-workspace` makes one)."""
    service = wiring.workspaces()
    created, key = service.bootstrap(name, roles, DEFAULT_SCOPES[roles[0]], availability, None, coverage)
    wallet = service.attach_wallet(created.id, dev_account(created.id).address).walletAddress
    assert wallet is not None
    return key.key, wallet


def pool(api: str, key: str) -> int:
    status, body, _ = call(api, "GET", "/wallet", key)
    assert status == 200, body
    return int(body["data"]["depositsMicroUsdc"])


async def run(api: str, seconds: float, codec: str, out: str) -> int:
    consumer, consumer_wallet = workspace("demo consumer", ["CONSUMER"])
    supplier, supplier_wallet = workspace("demo supplier", ["SUPPLIER"], "ONLINE", (4.71, -74.07, 5000))
    fund(consumer_wallet, 2 * MICRO_USDC_PER_USDC)
    step(f"created a consumer (wallet {consumer_wallet}, 2 test USDC deposited) and a supplier ({supplier_wallet})")
    before = pool(api, consumer)

    status, body, _ = call(
        api, "POST", "/sessions", consumer, {"lat": 4.711, "lng": -74.072, "maxDurationSeconds": 120}
    )
    assert status == 201, body
    session_id = body["data"]["id"]
    rate = body["data"]["ratePerSecondMicroUsdc"]
    step(f"consumer requested session {session_id}: {body['data']['state']}, rate {rate} µUSDC/s")
    status, body, _ = call(api, "POST", f"/sessions/{session_id}/accept", supplier)
    step(f"supplier accepted: {body['data']['state']}")
    status, body, _ = call(api, "POST", f"/sessions/{session_id}/start", supplier)
    assert status == 200, body
    whip = body["data"]["whipUrl"]
    step(f"supplier started: live input {body['data']['videoBackendRef']}, state still {body['data']['state']}")

    camera = await publish(whip, width=640, height=480, fps=30, codec=codec)  # type: ignore[arg-type]
    step(f"synthetic camera publishing 640x480@30 {codec} over WHIP")
    began = time.monotonic()
    try:
        while True:
            status, body, _ = call(api, "GET", f"/sessions/{session_id}", consumer)
            if body["data"]["state"] == SessionState.LIVE:
                break
            if time.monotonic() - began > 30:
                step("the session did not turn LIVE within 30 s: is the decoder running (make run)?")
                return 1
            await asyncio.sleep(0.1)
        step(f"LIVE after {time.monotonic() - began:.2f} s (startedAt {body['data']['startedAt']})")
        status, _, jpeg = call(api, "GET", f"/sessions/{session_id}/frame", consumer)
        assert status == 200, status
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        with open(out, "wb") as file:
            file.write(jpeg)
        step(f"consumer saved {out} ({len(jpeg)} bytes)")
        await asyncio.sleep(seconds)
        # End while the camera still publishes: a publisher that leaves first opens a NETWORK_ERROR window.
        status, body, _ = call(api, "POST", f"/sessions/{session_id}/end", consumer)
        step(f"consumer ended: {body['data']['state']}, {body['data']['cleanSeconds']} clean seconds")
    finally:
        await camera.close()
    print(json.dumps(body["data"], indent=2))
    return await settle(api, consumer, session_id, int(body["data"]["chargedMicroUsdc"]), before)


async def settle(api: str, consumer: str, session_id: str, charged: int, before: int) -> int:
    """Wait for the session's settlement; print its transaction, amount and the pool before and after."""
    if charged == 0:
        step("nothing was charged: no settlement (NOT_REQUIRED)")
        return 0
    step("waiting for the relayer and the indexer (2 confirmations on 1 s blocks)")
    began = time.monotonic()
    while True:
        status, body, _ = call(api, "GET", f"/settlements/{session_id}", consumer)
        if status == 200 and body["data"]["status"] in ("CONFIRMED", "FAILED"):
            break
        if time.monotonic() - began > 60:
            step(f"not settled within 60 s (last: {body}); is `make run` up?")
            return 1
        await asyncio.sleep(0.5)
    settled = body["data"]
    step(
        f"settlement {settled['status']} in {time.monotonic() - began:.1f} s: tx {settled['txHash']} "
        f"(block {settled['blockNumber']}, {settled['confirmations']} confirmations)"
    )
    after = pool(api, consumer)
    rate = settled["ratePerSecondMicroUsdc"]
    step(f"amount {int(settled['amountMicroUsdc']):,} µUSDC ({settled['cleanSeconds']} s × {rate} µUSDC/s)")
    step(f"consumer pool {before:,} → {after:,} µUSDC")
    return 0 if settled["status"] == "CONFIRMED" and before - after == charged else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m luxxon.local.demo")
    parser.add_argument("--api", default="http://127.0.0.1:8080/api/v1")
    parser.add_argument("--seconds", type=float, default=3.0, help="how long to stay LIVE before ending")
    parser.add_argument("--codec", choices=["VP8", "H264"], default="VP8")
    parser.add_argument("--out", default=".local/frame.jpg")
    args = parser.parse_args(argv)
    return asyncio.run(run(args.api.rstrip("/"), args.seconds, args.codec, args.out))


if __name__ == "__main__":
    sys.exit(main())
