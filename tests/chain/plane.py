"""The settlement plane under test: a fresh LuxxonSettlement (its own relayer key) on the run's anvil, the relayer and
indexer built over the test database, and ended sessions with real charges made through the API.

A fresh contract per test keeps the indexer's cursor and the settled ids of one test out of every other's; a fresh
relayer key keeps nonces consistent with the database (the relayer's nonce row starts where the key does)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from eth_account import Account
from web3 import Web3
from web3.contract import Contract

from luxxon import contracts, wiring
from luxxon.adapters.chain_web3 import Web3ChainLog, Web3Settlement, connect
from luxxon.admin.deploy import connect as deploy_connect
from luxxon.admin.deploy import deploy
from luxxon.admin.devnet import DEPLOYER
from luxxon.contracts import session_id
from luxxon.db.settlements import PgChainIndexStore, PgSettlementStore
from luxxon.domain.settlement import Indexer, Relayer
from tests.chain.driver import ETH, Chain
from tests.conftest import Api, Workspace, WorkspaceFactory

RATE = 1000  # the default spot rate (µUSDC per second)


@dataclass
class Plane:
    chain: Chain
    contract: Contract
    relayer_key: str
    start_block: int

    @classmethod
    def deploy(cls, chain: Chain) -> Plane:
        relayer = Account.create()
        chain.rpc("anvil_setBalance", relayer.address, hex(100 * ETH))
        deployment = deploy(
            deploy_connect(chain.local.rpc_url), DEPLOYER.key, usdc=chain.token.address, relayer=relayer.address
        )
        contract = chain.w3.eth.contract(address=deployment.settlement, abi=contracts.load(contracts.SETTLEMENT).abi)
        return cls(chain, contract, relayer.key.to_0x_hex(), deployment.settlement_block)

    @property
    def address(self) -> str:
        return str(self.contract.address)

    def settlement_chain(self, rpc_url: str | None = None) -> Web3Settlement:
        return Web3Settlement(connect(rpc_url or self.chain.local.rpc_url, 5), self.address, self.relayer_key)

    def relayer(self, stall_after_s: int = 120, rpc_url: str | None = None) -> Relayer:
        return Relayer(PgSettlementStore(), self.settlement_chain(rpc_url), stall_after_s)

    def indexer(self, confirmations: int = 1) -> Indexer:
        log = Web3ChainLog(connect(self.chain.local.rpc_url, 5), self.address)
        return Indexer(PgChainIndexStore(), log, confirmations, self.start_block)

    def fund(self, wallet: str, amount: int) -> None:
        self.chain.mint(wallet, amount)
        self.chain.send(self.chain.token.functions.approve(self.address, amount), wallet)
        self.chain.send(self.contract.functions.deposit(amount), wallet)

    def settled_events(self) -> list[Any]:
        logs = self.contract.events.Settled().get_logs(from_block=self.start_block)
        return sorted(logs, key=lambda e: (e["blockNumber"], e["logIndex"]))

    def settled_sessions(self) -> list[str]:
        return [str(session_id.from_bytes32(e["args"]["sessionId"])) for e in self.settled_events()]

    def use_in_api(self, monkeypatch: Any) -> None:
        """Point the API's chain reads (the credit check, the wallet view) and the admin CLI's funding here."""
        monkeypatch.setenv("LX_CHAIN_RPC_URL", self.chain.local.rpc_url)
        monkeypatch.setenv("LX_CHAIN_SETTLEMENT_ADDRESS", self.address)
        monkeypatch.setenv("LX_CHAIN_TOKEN_ADDRESS", self.chain.token.address)
        reset_settings()


def reset_settings() -> None:
    from luxxon.config import get_settings

    get_settings.cache_clear()
    wiring.reset()


def with_wallet(workspace: WorkspaceFactory, chain: Chain, *roles: str) -> tuple[Workspace, str]:
    ws = workspace(*roles)
    address = chain.fresh_account()
    wiring.workspaces().attach_wallet(ws.id, address)
    return ws, address


def ended(api: Api, consumer: Workspace, operator: Workspace, seconds: int, *, end: bool = True) -> dict[str, Any]:
    """A session LIVE for `seconds` (its first frame that long ago), then ended by the consumer."""
    created = api("POST", "/api/v1/sessions", consumer.key, {"lat": 1, "lng": 2, "maxDurationSeconds": 600}).data
    assert api("POST", f"/api/v1/sessions/{created['id']}/accept", operator.key).status == 200
    wiring.sessions().go_live(created["id"], datetime.now(UTC) - timedelta(seconds=seconds))
    if not end:
        return created
    reply = api("POST", f"/api/v1/sessions/{created['id']}/end", consumer.key)
    assert reply.status == 200, reply.body
    return dict(reply.data)


def settlement(api: Api, key: str, sid: str) -> Any:
    return api("GET", f"/api/v1/settlements/{sid}", key)


def checksum(address: str) -> str:
    return Web3.to_checksum_address(address)
