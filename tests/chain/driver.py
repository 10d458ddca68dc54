"""Plumbing shared by the chain tests and the gas benchmark: the deployed contracts on a local anvil, fresh
funded accounts, transactions from any account (anvil impersonates them), custom errors by name, time travel."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractCustomError
from web3.logs import DISCARD
from web3.types import TxReceipt

from luxxon import contracts
from luxxon.local.chain import LocalChain

ETH = 10**18
GAS_LIMIT = 8_000_000
# Fixed fees: no fee lookups per transaction; anvil's base fee stays far below this on a quiet chain.
FEES = {"maxFeePerGas": 100 * 10**9, "maxPriorityFeePerGas": 0}


def _selectors(abi: list[dict[str, Any]]) -> dict[str, str]:
    """0x-selector → error name, for every custom error in an ABI."""
    out = {}
    for item in abi:
        if item["type"] == "error":
            signature = f"{item['name']}({','.join(arg['type'] for arg in item['inputs'])})"
            out["0x" + keccak(text=signature)[:4].hex()] = item["name"]
    return out


class Chain:
    """The local chain with TestUSDC and LuxxonSettlement deployed (`LocalChain`), driven from Python."""

    def __init__(self, local: LocalChain) -> None:
        self.local = local
        self.w3 = Web3(Web3.HTTPProvider(local.rpc_url, request_kwargs={"timeout": 30}))
        # A test chain needs neither ENS lookups nor a chain-id round trip to validate every call.
        self.w3.middleware_onion.remove("validation")
        self.w3.middleware_onion.remove("ens_name_to_address")
        self.token: Contract = self.w3.eth.contract(address=local.token, abi=contracts.load(contracts.TEST_USDC).abi)
        self.settlement: Contract = self.w3.eth.contract(
            address=local.settlement, abi=contracts.load(contracts.SETTLEMENT).abi
        )
        self.owner = local.owner.address
        self.relayer = local.relayer.address
        self.errors = _selectors(self.settlement.abi) | _selectors(self.token.abi)
        # Any account may send (impersonated): tests use fresh random accounts without keys.
        self.rpc("anvil_autoImpersonateAccount", True)

    def rpc(self, method: str, *params: Any) -> Any:
        reply = self.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    # ------------------------------------------------------------ accounts and money

    def fresh_account(self) -> str:
        """A brand-new address holding 100 ETH for gas and nothing else."""
        address = Web3.to_checksum_address("0x" + secrets.token_hex(20))
        self.rpc("anvil_setBalance", address, hex(100 * ETH))
        return address

    def mint(self, to: str, amount: int) -> None:
        self.send(self.token.functions.mint(to, amount), self.owner)

    def fund(self, consumer: str, amount: int) -> TxReceipt:
        """Mint `amount` µUSDC to `consumer` and deposit it into their pool (returns the deposit's receipt)."""
        self.mint(consumer, amount)
        self.send(self.token.functions.approve(self.settlement.address, amount), consumer)
        return self.send(self.settlement.functions.deposit(amount), consumer)

    def deposits(self, account: str) -> int:
        return int(self.settlement.functions.deposits(account).call())

    def owed(self, account: str) -> int:
        return int(self.settlement.functions.owed(account).call())

    def token_balance(self, account: str) -> int:
        return int(self.token.functions.balanceOf(account).call())

    # ------------------------------------------------------------ transactions

    def send(self, fn: ContractFunction, sender: str) -> TxReceipt:
        """Send `fn` from `sender` and return its receipt; AssertionError when it reverts."""
        receipt = self.send_unchecked(fn, sender)
        assert receipt["status"] == 1, f"{fn.fn_name} from {sender} reverted: {self.revert_reason(fn, sender)}"
        return receipt

    def send_unchecked(self, fn: ContractFunction, sender: str) -> TxReceipt:
        """Send `fn` from `sender` with a fixed gas limit (no estimate), so a reverting call is mined too."""
        tx_hash = fn.transact({"from": sender, "gas": GAS_LIMIT, **FEES})
        return self.w3.eth.wait_for_transaction_receipt(tx_hash, poll_latency=0.01)

    def revert_reason(self, fn: ContractFunction, sender: str) -> str | None:
        """The custom error `fn` from `sender` would revert with now (None when it would succeed)."""
        try:
            fn.call({"from": sender})
        except ContractCustomError as exc:
            data = exc.data if isinstance(exc.data, str) else str(exc.data)
            return self.errors.get(data[:10], data)
        return None

    def events(self, receipt: TxReceipt, name: str) -> list[Any]:
        contract = self.token if name in {"Transfer", "Approval"} else self.settlement
        return list(contract.events[name]().process_receipt(receipt, errors=DISCARD))

    def expect_revert(self, fn: ContractFunction, sender: str, error: str) -> TxReceipt:
        """`fn` from `sender` reverts with the custom error `error`, both as a call and as a mined transaction."""
        assert self.revert_reason(fn, sender) == error
        receipt = self.send_unchecked(fn, sender)
        assert receipt["status"] == 0
        return receipt

    # ------------------------------------------------------------ time and isolation

    def increase_time(self, seconds: int) -> None:
        self.rpc("evm_increaseTime", seconds)
        self.rpc("evm_mine")

    def next_block_at(self, timestamp: int) -> None:
        """The next mined block (the next transaction, with automine) gets this timestamp."""
        self.rpc("evm_setNextBlockTimestamp", timestamp)

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Everything done inside is undone afterwards (evm_snapshot / evm_revert)."""
        snapshot_id = self.rpc("evm_snapshot")
        try:
            yield
        finally:
            assert self.rpc("evm_revert", snapshot_id) is True
