"""Deploy the settlement contract (and, on a development chain, the test USDC) to any EVM chain.

    python -m luxxon.admin.deploy --rpc-url https://… --deployer-key-env LX_DEPLOYER_KEY \\
        --usdc 0x…  --relayer 0x…  [--owner 0x…]  [--withdrawal-delay 86400]
    python -m luxxon.admin.deploy --rpc-url http://127.0.0.1:8545 --deployer-key-env KEY --test-token --relayer 0x…

The deployer key is read from the environment variable named by `--deployer-key-env`, never from the command line
(shell history, `ps`) and never printed. Transactions are signed locally and sent raw, so any JSON-RPC endpoint
works. The owner may be another account (a multisig): the constructor sets it, the deployer keeps no power.
Prints the deployment as JSON (chain id, addresses, the settlement's deploy block for an indexer's first cursor).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.types import TxParams, TxReceipt, Wei

from luxxon import contracts
from luxxon.adapters import chain_web3

DEFAULT_WITHDRAWAL_DELAY_S = 24 * 3600
RECEIPT_TIMEOUT_S = 180.0
RPC_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Deployment:
    """Where the contracts live on one chain."""

    chain_id: int
    token: str
    settlement: str
    owner: str
    relayer: str | None
    deployer: str
    settlement_block: int
    withdrawal_delay_s: int
    test_token: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class DeployError(RuntimeError):
    """A deploy transaction failed (reverted or was not mined in time)."""


def connect(rpc_url: str) -> Web3:
    """The relayer's client (luxxon.adapters.chain_web3), with a deploy's patience, once the node answers."""
    w3 = chain_web3.connect(rpc_url, RPC_TIMEOUT_S)
    if not w3.is_connected():
        raise DeployError("the RPC endpoint does not answer")
    return w3


def deploy(
    w3: Web3,
    deployer_key: str,
    *,
    usdc: str | None,
    relayer: str | None,
    owner: str | None = None,
    withdrawal_delay_s: int = DEFAULT_WITHDRAWAL_DELAY_S,
) -> Deployment:
    """Deploy `LuxxonSettlement` for `usdc` (or, when `usdc` is None, a fresh `TestUSDC` the deployer mints),
    owned by `owner` (default: the deployer) with `relayer` granted the relayer role (None: no relayer yet)."""
    try:
        deployer: LocalAccount = Account.from_key(deployer_key)
    except Exception:  # whatever eth-keys says about a malformed key, never echo it
        raise DeployError("the deployer key is not a valid private key") from None
    test_token = usdc is None
    if usdc is None:
        usdc = _create(w3, deployer, contracts.TEST_USDC)[0]
    settlement, block = _create(
        w3,
        deployer,
        contracts.SETTLEMENT,
        Web3.to_checksum_address(usdc),
        Web3.to_checksum_address(owner or deployer.address),
        Web3.to_checksum_address(relayer) if relayer else "0x" + "00" * 20,
        withdrawal_delay_s,
    )
    return Deployment(
        chain_id=w3.eth.chain_id,
        token=Web3.to_checksum_address(usdc),
        settlement=settlement,
        owner=Web3.to_checksum_address(owner or deployer.address),
        relayer=Web3.to_checksum_address(relayer) if relayer else None,
        deployer=deployer.address,
        settlement_block=block,
        withdrawal_delay_s=withdrawal_delay_s,
        test_token=test_token,
    )


def send(w3: Web3, signer: LocalAccount, tx: TxParams) -> TxReceipt:
    """Sign `tx` locally (nonce, gas and fees filled in when absent), send it raw and wait for a successful receipt."""
    tx = {**tx, "from": signer.address, "chainId": w3.eth.chain_id}
    tx.setdefault("nonce", w3.eth.get_transaction_count(signer.address, "pending"))
    if "gas" not in tx:
        tx["gas"] = w3.eth.estimate_gas(tx)
    if "gasPrice" not in tx and "maxFeePerGas" not in tx:
        base_fee = w3.eth.get_block("latest").get("baseFeePerGas", 0)
        tip = w3.eth.max_priority_fee
        tx["maxPriorityFeePerGas"] = tip
        tx["maxFeePerGas"] = Wei(2 * base_fee + tip)
    signed = signer.sign_transaction(tx)  # type: ignore[arg-type]
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT_S, poll_latency=0.1)
    if receipt["status"] != 1:
        raise DeployError(f"transaction {tx_hash.to_0x_hex()} reverted")
    return receipt


def _create(w3: Web3, deployer: LocalAccount, name: str, *args: Any) -> tuple[str, int]:
    artifact = contracts.load(name)
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    receipt = send(w3, deployer, {"data": factory.constructor(*args).data_in_transaction})
    address = receipt["contractAddress"]
    if address is None:
        raise DeployError(f"{name}: the receipt names no contract")
    return Web3.to_checksum_address(address), receipt["blockNumber"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m luxxon.admin.deploy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rpc-url", required=True, help="the chain's JSON-RPC endpoint")
    parser.add_argument(
        "--deployer-key-env",
        required=True,
        metavar="VAR",
        help="name of the environment variable holding the deployer's private key (0x-hex)",
    )
    token = parser.add_mutually_exclusive_group(required=True)
    token.add_argument("--usdc", metavar="ADDRESS", help="the chain's USDC contract")
    token.add_argument("--test-token", action="store_true", help="deploy TestUSDC too (development chains only)")
    parser.add_argument("--relayer", metavar="ADDRESS", help="grant the relayer role to this account")
    parser.add_argument("--owner", metavar="ADDRESS", help="the owner (default: the deployer)")
    parser.add_argument("--withdrawal-delay", type=int, default=DEFAULT_WITHDRAWAL_DELAY_S, metavar="SECONDS")
    args = parser.parse_args(argv)

    key = os.environ.get(args.deployer_key_env)
    if not key:
        parser.error(f"the environment variable {args.deployer_key_env} is empty or unset")
    try:
        deployment = deploy(
            connect(args.rpc_url),
            key,
            usdc=args.usdc,
            relayer=args.relayer,
            owner=args.owner,
            withdrawal_delay_s=args.withdrawal_delay,
        )
    except Exception as exc:  # a clean one-line failure (an RPC error, a revert); the key is in no message
        print(f"deploy failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(deployment.as_dict(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
