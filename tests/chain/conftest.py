"""The chain tests use the run's one anvil (the `chain` fixture in tests/conftest.py).

Tests that own everything they touch run inside `evm_snapshot`/`evm_revert` (`isolated`); the others use fresh
accounts (`chain.fresh_account()`) so they never see each other's balances."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.chain.driver import Chain


@pytest.fixture
def isolated(chain: Chain) -> Iterator[Chain]:
    """The chain, with every change this test makes reverted when it ends."""
    with chain.snapshot():
        yield chain
