"""Operator command line. Creates a workspace with its first API key and prints both as JSON.

    python -m luxxon.admin create-workspace --name "Acme Vision" --roles CONSUMER
    python -m luxxon.admin create-workspace --name "Field Ops" --roles SUPPLIER \\
        --availability ONLINE --coverage 4.71,-74.07,5000

The key is printed once; only its hash is stored.
"""

from __future__ import annotations

import argparse
import json
import sys

from luxxon import wiring
from luxxon.routes import ADMIN, CREATE, OPERATE, READ, SCOPES

DEFAULT_SCOPES = {"CONSUMER": [CREATE, READ, ADMIN], "SUPPLIER": [OPERATE, READ, ADMIN]}


def _coverage(raw: str) -> tuple[float, float, float]:
    try:
        lat, lng, radius = (float(part) for part in raw.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("expected LAT,LNG,RADIUS_METERS") from None
    if not (-90 <= lat <= 90 and -180 <= lng <= 180 and 0 < radius <= 500_000):
        raise argparse.ArgumentTypeError("lat in [-90, 90], lng in [-180, 180], radius in (0, 500000] metres")
    return lat, lng, radius


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m luxxon.admin")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-workspace", help="create a workspace and its first API key")
    create.add_argument("--name", required=True)
    create.add_argument("--roles", default="CONSUMER", help="comma-separated: CONSUMER,SUPPLIER")
    create.add_argument("--scopes", help=f"comma-separated, default by role; known: {','.join(SCOPES)}")
    create.add_argument("--availability", default="OFFLINE", choices=["ONLINE", "OFFLINE"])
    create.add_argument("--wallet", help="0x-prefixed EVM address")
    create.add_argument("--coverage", type=_coverage, help="circular coverage area: LAT,LNG,RADIUS_METERS")
    args = parser.parse_args(argv)

    roles = sorted({r.strip().upper() for r in args.roles.split(",") if r.strip()})
    if not roles or set(roles) - set(DEFAULT_SCOPES):
        parser.error("--roles takes CONSUMER and/or SUPPLIER")
    if args.scopes:
        scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
        if set(scopes) - set(SCOPES):
            parser.error(f"unknown scopes; known: {','.join(SCOPES)}")
    else:
        scopes = sorted({s for role in roles for s in DEFAULT_SCOPES[role]})
    workspace, key = wiring.workspaces().bootstrap(
        args.name, roles, scopes, args.availability, args.wallet, args.coverage
    )
    print(json.dumps({"workspace": workspace.model_dump(), "apiKey": key.model_dump()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
