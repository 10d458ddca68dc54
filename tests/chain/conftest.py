"""One anvil per test run with the real compiled contracts deployed (the same deploy `make run` uses).

Tests that own everything they touch run inside `evm_snapshot`/`evm_revert` (`isolated`); the others use fresh
accounts (`chain.fresh_account()`) so they never see each other's balances."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from luxxon.local.chain import deploy_local, start_anvil
from tests.chain.driver import Chain


@pytest.fixture(scope="session")
def chain() -> Iterator[Chain]:
    anvil = start_anvil()
    try:
        yield Chain(deploy_local(anvil.rpc_url))
    finally:
        anvil.stop()


@pytest.fixture
def isolated(chain: Chain) -> Iterator[Chain]:
    """The chain, with every change this test makes reverted when it ends."""
    with chain.snapshot():
        yield chain
