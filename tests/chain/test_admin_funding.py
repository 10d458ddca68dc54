"""The admin CLI's wallets on the local chain: a dev wallet for every workspace it creates, `--fund` and `fund`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from luxxon import wiring
from luxxon.admin import cli as admin
from luxxon.admin.devnet import dev_account
from tests.chain.plane import Plane


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    assert admin.main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_create_workspace_with_fund_gives_a_dev_wallet_and_deposits_whole_usdc(
    plane: Plane, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _run(capsys, "create-workspace", "--name", "c", "--roles", "CONSUMER", "--fund", "2")
    workspace = out["workspace"]
    assert workspace["walletAddress"] == dev_account(workspace["id"]).address
    assert out["funding"]["poolMicroUsdc"] == "2000000"
    assert plane.contract.functions.deposits(workspace["walletAddress"]).call() == 2_000_000
    # A top-up of an existing workspace adds to the same pool
    topped = _run(capsys, "fund", "--workspace", workspace["id"], "--usdc", "0.5")
    assert topped["poolMicroUsdc"] == "2500000"
    # An operator gets a dev wallet too (no funds needed to be paid)
    supplier = _run(capsys, "create-workspace", "--name", "s", "--roles", "SUPPLIER", "--dev-wallet")["workspace"]
    assert supplier["walletAddress"] == dev_account(supplier["id"]).address
    assert wiring.workspace_store().get_workspace(supplier["id"])["wallet_address"] == supplier["walletAddress"]
    # Without a wallet option a workspace has none (it cannot request or accept until one is attached)
    assert _run(capsys, "create-workspace", "--name", "n")["workspace"]["walletAddress"] is None


@pytest.mark.parametrize("amount", ["0", "-1", "1.0000001", "lots"])
def test_fund_refuses_an_amount_that_is_not_positive_whole_micro_usdc(plane: Plane, amount: str) -> None:
    with pytest.raises(SystemExit) as refused:
        admin.main(["create-workspace", "--name", "c", "--fund", amount])
    with pytest.raises(SystemExit):
        admin.main(["create-workspace", "--name", "c", "--fund", "1", "--wallet", "0x" + "11" * 20])
    assert refused.value.code == 2  # argparse's usage error; nothing was created on chain
