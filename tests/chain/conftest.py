"""The chain tests use the run's one anvil (the `chain` fixture in tests/conftest.py).

Tests that own everything they touch run inside `evm_snapshot`/`evm_revert` (`isolated`); the others use fresh
accounts (`chain.fresh_account()`) so they never see each other's balances."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.chain.driver import Chain
from tests.chain.plane import Plane, reset_settings


@pytest.fixture
def isolated(chain: Chain) -> Iterator[Chain]:
    """The chain, with every change this test makes reverted when it ends."""
    with chain.snapshot():
        yield chain


@pytest.fixture
def plane(chain: Chain, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Plane]:
    """A fresh settlement contract, its own relayer key; the API's chain reads (the credit check, the wallet view,
    the admin CLI's funding) point at it."""
    deployed = Plane.deploy(chain)
    deployed.use_in_api(monkeypatch)
    yield deployed
    monkeypatch.undo()
    reset_settings()
