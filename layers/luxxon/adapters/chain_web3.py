"""The settlement contract through web3: the relayer's transactions (`ports.money.SettlementChain`) and the indexer's
events (`ports.money.ChainLog`). Only the relayer and the indexer import this (web3 costs ~0.5 s of cold start)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any, TypeVar

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import BlockNotFound, TransactionNotFound, Web3Exception
from web3.types import Nonce, TxParams, Wei

from luxxon import contracts
from luxxon.contracts import session_id
from luxxon.domain.ports.money import (
    ChainEvent,
    ChainUnavailable,
    ContractEvent,
    Fees,
    NonceTooLow,
    Settlement,
    SignedTx,
    TxStatus,
)

# The gas limit of a settleMany: the fixed part and each item's worst case, a first payout (~60k of work,
# tests/bench/gas.py) plus a first fee credit when a platform fee is set (~22k). Only the gas used is paid.
GAS_BASE = 60_000
GAS_PER_ITEM = 90_000
# Pool and earnings each event touches: (consumer argument, operator argument, amount argument).
E = ContractEvent
_PARTIES: dict[str, tuple[str | None, str | None, str | None]] = {
    E.DEPOSITED: ("consumer", None, "amount"),
    E.SETTLED: ("consumer", "operator", "amount"),
    E.WITHDRAWAL_REQUESTED: ("consumer", None, "amount"),
    E.WITHDRAWAL_CANCELLED: ("consumer", None, "amount"),
    E.WITHDRAWN: ("consumer", None, "amount"),
    E.EARNINGS_WITHDRAWN: (None, "operator", "amount"),
}


def connect(rpc_url: str, timeout_s: float) -> Web3:
    # No provider retries: a hanging node must not hold the relayer's nonce lock for five timeouts; the queue retries.
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_s}, exception_retry_configuration=None))
    # Addresses are checksummed here; no ENS, and the chain id is checked once, not before every call.
    w3.middleware_onion.remove("validation")
    w3.middleware_onion.remove("ens_name_to_address")
    return w3


def served_chain_id(w3: Web3) -> int:
    """The chain id the node reports (eth_chainId)."""
    return _call(lambda: w3.eth.chain_id)


def _signature_hashes(abi: Sequence[Any], kind: str) -> dict[bytes, str]:
    """keccak256 of each `kind` item's signature (an event's topic 0; an error's selector is its first 4 bytes)."""
    return {
        keccak(text=f"{item['name']}({','.join(a['type'] for a in item['inputs'])})"): item["name"]
        for item in abi
        if item["type"] == kind
    }


def error_names(abi: Sequence[Any]) -> dict[bytes, str]:
    """4-byte selector → custom error name."""
    return {digest[:4]: name for digest, name in _signature_hashes(abi, "error").items()}


class Web3Settlement:
    """One relayer key acting on one settlement contract."""

    def __init__(self, w3: Web3, settlement: str, relayer_key: str) -> None:
        self.w3 = w3
        self.contract: Contract = w3.eth.contract(
            address=Web3.to_checksum_address(settlement), abi=contracts.load(contracts.SETTLEMENT).abi
        )
        self._signer: LocalAccount = Account.from_key(relayer_key)

    @property
    def address(self) -> str:
        return self._signer.address

    @cached_property
    def chain_id(self) -> int:
        return served_chain_id(self.w3)

    def is_settled(self, session: str) -> bool:
        return bool(_call(lambda: self.contract.functions.settled(session_id.to_bytes32(session)).call()))

    def nonces(self) -> tuple[int, int]:
        mined = _call(lambda: self.w3.eth.get_transaction_count(self._signer.address, "latest"))
        pending = _call(lambda: self.w3.eth.get_transaction_count(self._signer.address, "pending"))
        return mined, pending

    def fees(self) -> Fees:
        def read() -> Fees:
            base = int(self.w3.eth.get_block("latest").get("baseFeePerGas", 0))
            tip = int(self.w3.eth.max_priority_fee)
            return Fees(max_fee_per_gas=2 * base + tip, priority_fee_per_gas=tip)

        return _call(read)

    def sign_settle_many(self, items: Sequence[Settlement], nonce: int, fees: Fees) -> SignedTx:
        batch = [
            (
                session_id.to_bytes32(i.session_id),
                Web3.to_checksum_address(i.consumer_wallet or ""),
                Web3.to_checksum_address(i.operator_wallet or ""),
                i.clean_seconds,
                i.rate_per_second_micro_usdc,
                i.max_duration_seconds,
            )
            for i in items
        ]
        tx: TxParams = {
            "to": self.contract.address,
            "data": self.contract.encode_abi("settleMany", args=[batch]),
            "chainId": self.chain_id,
            "nonce": Nonce(nonce),
            "gas": GAS_BASE + GAS_PER_ITEM * len(batch),
            "maxFeePerGas": Wei(fees.max_fee_per_gas),
            "maxPriorityFeePerGas": Wei(fees.priority_fee_per_gas),
            "type": 2,
        }
        signed = self._signer.sign_transaction(tx)  # type: ignore[arg-type]
        return SignedTx(tx_hash=signed.hash.to_0x_hex(), raw=bytes(signed.raw_transaction), nonce=nonce, fees=fees)

    def send(self, tx: SignedTx) -> None:
        try:
            self.w3.eth.send_raw_transaction(tx.raw)
        except (Web3Exception, OSError, ValueError) as error:  # a node's refusal, or no answer at all
            message = str(error).lower()
            if "already known" in message or "already imported" in message:
                return
            if "nonce too low" in message or "nonce is too low" in message:
                raise NonceTooLow(message[:200]) from error
            raise ChainUnavailable(type(error).__name__) from error

    def tx_status(self, tx_hash: str) -> TxStatus:
        def read() -> TxStatus:
            try:
                receipt = self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
            except TransactionNotFound:
                receipt = None
            if receipt is not None:
                return TxStatus.MINED if receipt["status"] == 1 else TxStatus.REVERTED
            try:
                self.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
            except TransactionNotFound:
                return TxStatus.UNKNOWN
            return TxStatus.PENDING

        return _call(read)

    def balance_wei(self) -> int:
        return int(_call(lambda: self.w3.eth.get_balance(self._signer.address)))


class Web3ChainLog:
    """The settlement contract's events, decoded, with the session each names."""

    def __init__(self, w3: Web3, settlement: str) -> None:
        self.w3 = w3
        self._contract: Contract = w3.eth.contract(
            address=Web3.to_checksum_address(settlement), abi=contracts.load(contracts.SETTLEMENT).abi
        )
        abi = self._contract.abi
        self._events = _signature_hashes(abi, "event")
        self._errors = error_names(abi)

    @property
    def contract(self) -> str:
        return str(self._contract.address)

    def head(self) -> int:
        return int(_call(lambda: self.w3.eth.block_number))

    def block_hash(self, number: int) -> str | None:
        def read() -> str | None:
            try:
                block = self.w3.eth.get_block(number)
            except BlockNotFound:  # past the head of a branch that got shorter
                return None
            return block["hash"].to_0x_hex() if "hash" in block else None

        return _call(read)

    def events(self, from_block: int, to_block: int) -> list[ChainEvent]:
        logs = _call(
            lambda: self.w3.eth.get_logs(
                {"address": self._contract.address, "fromBlock": from_block, "toBlock": to_block}
            )
        )
        out = []
        for log in logs:
            name = self._events.get(bytes(log["topics"][0]))
            if name is None:
                continue
            args = dict(self._contract.events[name]().process_log(log)["args"])
            out.append(self._event(name, args, log))
        return out

    def _event(self, name: str, raw: dict[str, Any], log: Any) -> ChainEvent:
        args: dict[str, Any] = {}
        for key, value in raw.items():
            if isinstance(value, bytes):
                args[key] = "0x" + value.hex()
            elif isinstance(value, int) and not isinstance(value, bool):
                args[key] = str(value) if value > 2**53 else value
            else:
                args[key] = value
        if name == E.SETTLEMENT_SKIPPED:
            args["reason"] = self._errors.get(bytes(raw["reason"]), args["reason"])
        sid = None
        if "sessionId" in raw:
            try:
                sid = str(session_id.from_bytes32(bytes(raw["sessionId"])))
            except ValueError:
                sid = None
        consumer_arg, operator_arg, amount_arg = _PARTIES.get(name, (None, None, None))
        return ChainEvent(
            block_number=int(log["blockNumber"]),
            log_index=int(log["logIndex"]),
            block_hash=log["blockHash"].to_0x_hex(),
            tx_hash=log["transactionHash"].to_0x_hex(),
            name=name,
            args=args,
            session_id=sid,
            consumer=str(raw[consumer_arg]).lower() if consumer_arg else None,
            operator=str(raw[operator_arg]).lower() if operator_arg else None,
            amount=int(raw[amount_arg]) if amount_arg else None,
        )


T = TypeVar("T")


def _call(read: Callable[[], T]) -> T:
    """Run one read against the node; a transport failure or a node error is ChainUnavailable."""
    try:
        result: T = read()
    except (OSError, Web3Exception) as error:
        raise ChainUnavailable(type(error).__name__) from error
    except ValueError as error:  # RPC errors surface as ValueError in some web3 paths
        raise ChainUnavailable(str(error)[:200]) from error
    return result
