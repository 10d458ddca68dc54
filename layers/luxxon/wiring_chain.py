"""The composition root's chain side: the relayer and the indexer, wired to web3 (`luxxon.adapters.chain_web3`).

Kept apart from `luxxon.wiring` so that nothing an API handler imports can reach web3 (import-linter holds it);
settings, secrets and the database come from `luxxon.wiring` as for everything else.
"""

from __future__ import annotations

from functools import cache

from web3 import Web3

from luxxon import wiring
from luxxon.adapters.chain_web3 import Web3ChainLog, Web3Settlement, connect, served_chain_id
from luxxon.config import get_settings
from luxxon.db.settlements import PgChainIndexStore
from luxxon.domain.ports.money import ChainUnavailable
from luxxon.domain.settlement import Indexer, Relayer


@cache
def web3() -> Web3:
    """The node, once it has said it serves LX_CHAIN_ID (when set): not cached otherwise, so every invocation asks
    again and fails (retried, then dead-lettered and alarmed) until the RPC URL is right."""
    s = get_settings()
    w3 = connect(wiring.chain_rpc_url(), s.chain_timeout_s)
    if s.chain_id is not None:
        served = served_chain_id(w3)
        if served != s.chain_id:
            raise ChainUnavailable(f"the RPC serves chain {served}, not {s.chain_id}")
    return w3


def relayer_key() -> str:
    s = get_settings()
    if s.relayer_key_secret_arn:
        from luxxon.secrets_manager import read_secret

        return read_secret(s.relayer_key_secret_arn).strip()
    if s.relayer_key is None:
        raise RuntimeError("LX_RELAYER_KEY (or LX_RELAYER_KEY_SECRET_ARN) is not set")
    return s.relayer_key.get_secret_value()


@cache
def settlement_chain() -> Web3Settlement:
    return Web3Settlement(web3(), wiring.settlement_address(), relayer_key())


@cache
def relayer() -> Relayer:
    return Relayer(wiring.settlement_store(), settlement_chain(), get_settings().settlement_stall_after_s)


@cache
def indexer() -> Indexer:
    s = get_settings()
    chain = Web3ChainLog(web3(), wiring.settlement_address())
    return Indexer(PgChainIndexStore(), chain, s.chain_confirmations, s.chain_start_block)


def reset() -> None:
    for built in (web3, settlement_chain, relayer, indexer):
        built.cache_clear()
