"""The local chain and the deploy command (the same one a production deploy runs)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

from eth_account import Account
from web3 import Web3

from luxxon import contracts
from luxxon.local.chain import CHAIN_ID, DEPLOYER, RELAYER, start_anvil
from tests.chain.driver import Chain

KEY_VARIABLE = "LX_TEST_DEPLOYER_KEY"


def run_deploy(chain: Chain, key: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != KEY_VARIABLE}
    if key is not None:
        env[KEY_VARIABLE] = key
    return subprocess.run(
        [sys.executable, "-m", "luxxon.admin.deploy", "--rpc-url", chain.local.rpc_url, "--deployer-key-env",
         KEY_VARIABLE, *args],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip


def fresh_deployer(chain: Chain) -> tuple[str, str]:
    account = Account.create()
    chain.rpc("anvil_setBalance", account.address, hex(10**18))
    return account.address, account.key.to_0x_hex()


def test_the_deploy_command_deploys_with_the_key_from_the_environment_and_never_prints_it(chain: Chain) -> None:
    deployer, key = fresh_deployer(chain)
    owner, relayer = chain.fresh_account(), chain.fresh_account()

    done = run_deploy(chain, key, "--usdc", chain.token.address, "--relayer", relayer, "--owner", owner)

    assert done.returncode == 0, done.stderr
    assert key.removeprefix("0x") not in done.stdout + done.stderr
    deployment = json.loads(done.stdout)
    assert (deployment["chain_id"], deployment["deployer"], deployment["test_token"]) == (CHAIN_ID, deployer, False)
    settlement = chain.w3.eth.contract(address=deployment["settlement"], abi=contracts.load(contracts.SETTLEMENT).abi)
    assert settlement.functions.token().call() == chain.token.address
    assert settlement.functions.owner().call() == owner
    assert settlement.functions.isRelayer(relayer).call() is True
    assert settlement.functions.isRelayer(deployer).call() is False
    assert settlement.functions.withdrawalDelay().call() == 24 * 3600


def test_the_deploy_command_with_a_test_token_makes_the_deployer_its_minter(chain: Chain) -> None:
    deployer, key = fresh_deployer(chain)

    done = run_deploy(chain, key, "--test-token")

    assert done.returncode == 0, done.stderr
    deployment = json.loads(done.stdout)
    token = chain.w3.eth.contract(address=deployment["token"], abi=contracts.load(contracts.TEST_USDC).abi)
    assert token.functions.minter().call() == deployer
    assert (deployment["owner"], deployment["relayer"], deployment["test_token"]) == (deployer, None, True)


def test_the_deploy_command_refuses_an_unset_key_variable(chain: Chain) -> None:
    done = run_deploy(chain, None, "--test-token")

    assert done.returncode == 2
    assert f"{KEY_VARIABLE} is empty or unset" in done.stderr


def test_the_deploy_command_reports_a_malformed_key_without_echoing_it(chain: Chain) -> None:
    bad = "0x" + "zz" * 32

    done = run_deploy(chain, bad, "--test-token")

    assert done.returncode == 1
    assert "not a valid private key" in done.stderr
    assert "zz" * 8 not in done.stdout + done.stderr


def test_the_deploy_command_needs_a_usdc_address_or_an_explicit_test_token(chain: Chain) -> None:
    _, key = fresh_deployer(chain)

    done = run_deploy(chain, key)

    assert done.returncode == 2
    assert "one of the arguments --usdc --test-token is required" in done.stderr


def test_anvil_serves_the_well_known_accounts_on_localhost(chain: Chain) -> None:
    assert chain.local.rpc_url.startswith("http://127.0.0.1:")
    assert chain.w3.eth.chain_id == CHAIN_ID
    assert chain.w3.eth.accounts[:2] == [DEPLOYER.address, RELAYER.address]
    assert Account.from_key(DEPLOYER.key).address == DEPLOYER.address
    assert Account.from_key(RELAYER.key).address == RELAYER.address


def test_the_local_deployment_is_owned_by_the_deployer_with_the_relayer_granted(chain: Chain) -> None:
    assert chain.settlement.functions.owner().call() == DEPLOYER.address
    assert chain.settlement.functions.isRelayer(RELAYER.address).call() is True
    assert chain.settlement.functions.token().call() == chain.token.address
    assert chain.token.functions.minter().call() == DEPLOYER.address
    assert f"settlement  {chain.settlement.address}" in str(chain.local)


def test_start_anvil_listens_on_the_port_asked_for_and_stop_ends_it() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    anvil = start_anvil(port)
    try:
        assert anvil.rpc_url == f"http://127.0.0.1:{port}"
        assert Web3(Web3.HTTPProvider(anvil.rpc_url)).eth.chain_id == CHAIN_ID
    finally:
        anvil.stop()
    assert anvil.process.poll() is not None
    assert not anvil.log_path.exists()
