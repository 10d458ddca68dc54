"""The committed artifacts are exactly what the pinned compiler makes of the sources today."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from luxxon import contracts
from luxxon.local.chain import CONTRACTS_DIR


def test_the_committed_artifacts_match_a_fresh_compile_of_the_sources(tmp_path: Path) -> None:
    out = str(tmp_path)
    build = subprocess.run(["node", "build.mjs", "--out", out], cwd=CONTRACTS_DIR, capture_output=True, check=False)
    assert build.returncode == 0, build.stderr.decode()

    fresh = {path.name: json.loads(path.read_text()) for path in tmp_path.glob("*.json")}
    committed = {path.name: json.loads(path.read_text()) for path in contracts.ARTIFACTS.glob("*.json")}
    assert sorted(fresh) == sorted(committed), "a contract was added or removed: run `make contracts`"
    for name, artifact in fresh.items():
        for part in ("abi", "bytecode", "deployedBytecode", "compiler"):
            assert artifact[part] == committed[name][part], f"{name} {part} is stale: run `make contracts`"


def test_the_artifacts_are_pinned_to_solc_0_8_37_for_cancun_with_the_optimizer() -> None:
    for name in (contracts.SETTLEMENT, contracts.TEST_USDC):
        compiler = json.loads((contracts.ARTIFACTS / f"{name}.json").read_text())["compiler"]
        assert compiler["version"] == "0.8.37+commit.f401782d"
        assert compiler["settings"]["evmVersion"] == "cancun"
        assert compiler["settings"]["optimizer"]["enabled"] is True


def test_the_loader_gives_each_contracts_abi_and_bytecode() -> None:
    settlement = contracts.load(contracts.SETTLEMENT)

    assert settlement.name == "LuxxonSettlement"
    solc_0_8_37 = "64736f6c6343" + "000825" + "0033"  # CBOR metadata tail: "solc" → 0.8.37
    assert settlement.bytecode.endswith(solc_0_8_37) and settlement.deployed_bytecode.endswith(solc_0_8_37)
    functions = {item["name"] for item in settlement.abi if item["type"] == "function"}
    assert {"deposit", "deposits", "settleFromPool", "settleMany", "settled", "requestWithdrawal"} <= functions


def test_the_hand_encoded_eth_call_selectors_are_the_contracts() -> None:
    """luxxon.adapters.chain_rpc encodes calls by hand (no web3 in API handlers): its selectors must be the ABI's."""
    from eth_utils import keccak

    from luxxon import contracts
    from luxxon.adapters import chain_rpc

    functions = {f["name"]: f for f in contracts.load(contracts.SETTLEMENT).abi if f["type"] == "function"}
    for name, selector in (
        ("deposits", chain_rpc.DEPOSITS),
        ("pendingWithdrawal", chain_rpc.PENDING_WITHDRAWAL),
        ("owed", chain_rpc.OWED),
    ):
        inputs = ",".join(i["type"] for i in functions[name]["inputs"])
        assert inputs == "address"
        assert "0x" + keccak(text=f"{name}({inputs})")[:4].hex() == selector
