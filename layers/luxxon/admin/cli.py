"""The operator's command line (`python -m luxxon.admin`). Prints JSON.

    python -m luxxon.admin create-workspace --name "Acme Vision" --roles CONSUMER --fund 2
    python -m luxxon.admin create-workspace --name "Field Ops" --roles SUPPLIER \\
        --availability ONLINE --coverage 4.71,-74.07,5000
    python -m luxxon.admin fund --workspace <id> --usdc 5          # top up (local chain)
    python -m luxxon.admin redrive-settlements                     # the settlement DLQ back to its queue

A new workspace gets its first API key (printed once; only its hash is stored) and its wallet: `--wallet 0x…` (one
the operator vouches for), or `--dev-wallet` on the local chain (derived from anvil's public key and the workspace id,
`luxxon.admin.devnet`: anyone can derive its key, so it is refused on any other chain). `--fund N` (local chain; implies
`--dev-wallet`) mints N test USDC (whole USDC: 2 = 2,000,000 µUSDC) and deposits them into the wallet's pool. Without
a wallet a workspace can neither request (consumer) nor accept (supplier) a session. In production consumers deposit
from their own wallets.

    python -m luxxon.admin retry-settlement --session <id>         # a FAILED settlement, once its cause is fixed
"""

from __future__ import annotations

import argparse
import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from luxxon import wiring
from luxxon.config import get_settings
from luxxon.routes import ADMIN, CREATE, OPERATE, READ, SCOPES

DEFAULT_SCOPES = {"CONSUMER": [CREATE, READ, ADMIN], "SUPPLIER": [OPERATE, READ, ADMIN]}
# Where `make run` writes the local chain's endpoint and addresses and the local queue, for the tools run beside it.
LOCAL_SETTLEMENT_FILE = Path(".local") / "settlement.json"


def _coverage(raw: str) -> tuple[float, float, float]:
    try:
        lat, lng, radius = (float(part) for part in raw.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("expected LAT,LNG,RADIUS_METERS") from None
    if not (-90 <= lat <= 90 and -180 <= lng <= 180 and 0 < radius <= 500_000):
        raise argparse.ArgumentTypeError("lat in [-90, 90], lng in [-180, 180], radius in (0, 500000] metres")
    return lat, lng, radius


def _usdc(raw: str) -> int:
    """Whole USDC (up to 6 decimals) → µUSDC."""
    try:
        micro = Decimal(raw) * 10**6
    except InvalidOperation:
        raise argparse.ArgumentTypeError("expected an amount of USDC, e.g. 2 or 0.5") from None
    if micro <= 0 or micro != micro.to_integral_value() or micro > 10**15:
        raise argparse.ArgumentTypeError("a positive amount of USDC with at most 6 decimals, at most 1e9")
    return int(micro)


def local_chain() -> dict[str, str]:
    """The chain to fund on: LX_CHAIN_* from the environment, else what `make run` wrote to .local/chain.json."""
    s = get_settings()
    if s.chain_rpc_url and s.chain_settlement_address and s.chain_token_address:
        return {"rpcUrl": s.chain_rpc_url, "settlement": s.chain_settlement_address, "token": s.chain_token_address}
    if LOCAL_SETTLEMENT_FILE.exists():
        saved: dict[str, str] = json.loads(LOCAL_SETTLEMENT_FILE.read_text())
        return saved
    raise SystemExit("no local chain: start `make run` (or set LX_CHAIN_RPC_URL and the LX_CHAIN_* addresses)")


def redrive_settlements() -> int:
    """The settlement queue from LX_SETTLEMENT_QUEUE_URL (AWS credentials from the environment), else `make run`'s."""
    from luxxon.adapters.queue import local_client, redrive

    url = get_settings().settlement_queue_url
    if url:
        return redrive(url)
    if not LOCAL_SETTLEMENT_FILE.exists():
        raise SystemExit("LX_SETTLEMENT_QUEUE_URL is not set and `make run` is not up")
    saved = json.loads(LOCAL_SETTLEMENT_FILE.read_text())
    return redrive(saved["queueUrl"], local_client(saved["sqsEndpoint"]))


def dev_wallet(workspace_id: str) -> str:
    """The workspace's dev wallet, only when the configured chain is the local one (its key is derivable)."""
    from luxxon.admin import devnet
    from luxxon.admin.deploy import connect

    if connect(local_chain()["rpcUrl"]).eth.chain_id != devnet.CHAIN_ID:
        raise SystemExit("dev wallets exist on the local chain only: give the workspace its own with --wallet")
    return devnet.dev_account(workspace_id).address


def fund(wallet: str, micro_usdc: int) -> dict[str, Any]:
    from luxxon.admin import devnet
    from luxxon.admin.deploy import connect

    chain = local_chain()
    pool = devnet.fund(connect(chain["rpcUrl"]), chain["token"], chain["settlement"], wallet, micro_usdc)
    return {"wallet": wallet, "fundedMicroUsdc": str(micro_usdc), "poolMicroUsdc": str(pool)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m luxxon.admin")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-workspace", help="create a workspace, its first API key and its wallet")
    create.add_argument("--name", required=True)
    create.add_argument("--roles", default="CONSUMER", help="comma-separated: CONSUMER,SUPPLIER")
    create.add_argument("--scopes", help=f"comma-separated, default by role; known: {','.join(SCOPES)}")
    create.add_argument("--availability", default="OFFLINE", choices=["ONLINE", "OFFLINE"])
    wallet = create.add_mutually_exclusive_group()
    wallet.add_argument("--wallet", help="0x-prefixed EVM address the workspace settles with")
    wallet.add_argument("--dev-wallet", action="store_true", help="a derived dev wallet (local chain only)")
    create.add_argument("--coverage", type=_coverage, help="circular coverage area: LAT,LNG,RADIUS_METERS")
    create.add_argument("--fund", type=_usdc, metavar="USDC", help="mint and deposit this much test USDC (local)")
    top_up = commands.add_parser("fund", help="mint and deposit test USDC into a workspace's pool (local chain)")
    top_up.add_argument("--workspace", required=True, help="workspace id")
    top_up.add_argument("--usdc", required=True, type=_usdc, metavar="USDC")
    commands.add_parser("redrive-settlements", help="move the settlement dead-letter queue's messages back")
    retry = commands.add_parser("retry-settlement", help="send a FAILED settlement again (after fixing its cause)")
    retry.add_argument("--session", required=True, help="session id")
    args = parser.parse_args(argv)

    if args.command == "fund":
        row = wiring.workspace_store().get_workspace(args.workspace)
        if row is None or not row["wallet_address"]:
            parser.error("no such workspace, or it has no wallet")
        print(json.dumps(fund(row["wallet_address"], args.usdc), indent=2))
        return 0
    if args.command == "retry-settlement":
        if not wiring.settlement_store().retry_failed(args.session):
            parser.error("no FAILED settlement for that session")
        print(json.dumps({"sessionId": args.session, "status": "PENDING"}, indent=2))
        return 0
    if args.command == "redrive-settlements":
        print(json.dumps({"moved": redrive_settlements()}, indent=2))
        return 0

    roles = sorted({r.strip().upper() for r in args.roles.split(",") if r.strip()})
    if not roles or set(roles) - set(DEFAULT_SCOPES):
        parser.error("--roles takes CONSUMER and/or SUPPLIER")
    if args.scopes:
        scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
        if set(scopes) - set(SCOPES):
            parser.error(f"unknown scopes; known: {','.join(SCOPES)}")
    else:
        scopes = sorted({s for role in roles for s in DEFAULT_SCOPES[role]})
    service = wiring.workspaces()
    workspace, key = service.bootstrap(args.name, roles, scopes, args.availability, args.wallet, args.coverage)
    out: dict[str, Any] = {}
    if args.dev_wallet or args.fund:
        if args.wallet is not None:
            parser.error("--fund mints to a dev wallet: leave out --wallet")
        workspace = service.attach_wallet(workspace.id, dev_wallet(workspace.id))
    if args.fund:
        assert workspace.walletAddress is not None
        out["funding"] = fund(workspace.walletAddress, args.fund)
    print(json.dumps({"workspace": workspace.model_dump(), "apiKey": key.model_dump(), **out}, indent=2))
    return 0
