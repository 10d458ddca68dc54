"""Development chains only (anvil): the well-known accounts, workspace dev wallets, and test USDC funding.

A workspace's dev wallet is derived from anvil's public deployer key and the workspace id, so any local tool can
recompute it (`dev_account(workspace_id)`) and nothing is stored or printed. Funding mints TestUSDC (the deployer is
its minter) and deposits it into the wallet's pool with `depositFor`; the wallet also gets ETH for its own gas (to
request a withdrawal). None of this exists on a production chain: there, consumers deposit from their own wallets.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3

from luxxon import contracts
from luxxon.admin.deploy import send

MNEMONIC = "test test test test test test test test test test test junk"
CHAIN_ID = 31337
ETH = 10**18
MICRO_USDC_PER_USDC = 10**6


@dataclass(frozen=True)
class DevAccount:
    address: str
    key: str


# anvil's accounts 0 and 1 for MNEMONIC: public knowledge, for local use only.
DEPLOYER = DevAccount(
    "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
)
RELAYER = DevAccount(
    "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
)


def dev_account(workspace_id: str) -> LocalAccount:
    """The dev wallet of a workspace on the local chain (deterministic)."""
    seed = keccak(bytes.fromhex(DEPLOYER.key.removeprefix("0x")) + b"luxxon-dev-wallet:" + workspace_id.encode())
    account: LocalAccount = Account.from_key(seed)
    return account


def fund(w3: Web3, token: str, settlement: str, wallet: str, micro_usdc: int) -> int:
    """Mint `micro_usdc` test USDC and deposit it into `wallet`'s pool; give the wallet ETH for gas.
    Returns the pool's balance after."""
    if micro_usdc <= 0:
        raise ValueError("the amount must be positive")
    minter = Account.from_key(DEPLOYER.key)
    wallet = Web3.to_checksum_address(wallet)
    w3.provider.make_request("anvil_setBalance", [wallet, hex(10 * ETH)])  # type: ignore[arg-type]
    usdc = w3.eth.contract(address=Web3.to_checksum_address(token), abi=contracts.load(contracts.TEST_USDC).abi)
    pool = w3.eth.contract(address=Web3.to_checksum_address(settlement), abi=contracts.load(contracts.SETTLEMENT).abi)
    send(w3, minter, usdc.functions.mint(minter.address, micro_usdc).build_transaction({"from": minter.address}))
    send(w3, minter, usdc.functions.approve(pool.address, micro_usdc).build_transaction({"from": minter.address}))
    send(w3, minter, pool.functions.depositFor(wallet, micro_usdc).build_transaction({"from": minter.address}))
    return int(pool.functions.deposits(wallet).call())
