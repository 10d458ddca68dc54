"""The committed compiled artifacts (ABI + bytecode) of the Solidity contracts in `layers/contracts/src`.

JSON only: loading an artifact imports no web3, so a caller that needs only an ABI (an `eth_call` encoder, the
indexer's event decoder) stays light.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

SETTLEMENT = "LuxxonSettlement"
TEST_USDC = "TestUSDC"
CREDIT_READER = "CreditReader"  # never deployed: its creation code is an eth_call (luxxon.adapters.chain_rpc)


@dataclass(frozen=True)
class Artifact:
    """One compiled contract: `bytecode` deploys it, `deployed_bytecode` is what the chain then holds."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str


@cache
def load(name: str) -> Artifact:
    """The artifact of contract `name` (`SETTLEMENT`, `TEST_USDC`, `CREDIT_READER`)."""
    raw = json.loads((ARTIFACTS / f"{name}.json").read_text())
    return Artifact(
        name=raw["contractName"], abi=raw["abi"], bytecode=raw["bytecode"], deployed_bytecode=raw["deployedBytecode"]
    )
