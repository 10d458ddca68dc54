"""The local chain: anvil (from the npm package `@foundry-rs/anvil`, installed under `layers/contracts`) on
127.0.0.1 with anvil's well-known mnemonic, and the contracts deployed on it.

    anvil = start_anvil()               # a free port; or start_anvil(8545)
    chain = deploy_local(anvil.rpc_url)  # TestUSDC + LuxxonSettlement, owner = DEPLOYER, relayer = RELAYER
    print(chain)                         # the RPC URL and the addresses
    anvil.stop()

The accounts are anvil's defaults (mnemonic "test test … junk"): public knowledge, for local use only.
"""

from __future__ import annotations

import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from luxxon.admin.devnet import CHAIN_ID, DEPLOYER, MNEMONIC, RELAYER, DevAccount

CONTRACTS_DIR = Path(__file__).resolve().parents[2] / "contracts"
HOST = "127.0.0.1"
HARDFORK = "prague"  # the contracts are compiled for cancun; prague runs them and is what mainnet runs
ACCOUNTS = 10
START_TIMEOUT_S = 30.0


_PLATFORMS = {
    ("linux", "x86_64"): "linux-amd64",
    ("linux", "aarch64"): "linux-arm64",
    ("darwin", "x86_64"): "darwin-amd64",
    ("darwin", "arm64"): "darwin-arm64",
}


def anvil_binary() -> Path:
    """The anvil executable inside `@foundry-rs/anvil-<platform>` (`npm ci` in layers/contracts installs it)."""
    target = _PLATFORMS.get((sys.platform, platform.machine()))
    if target is None:
        raise RuntimeError(f"no anvil package for {sys.platform}/{platform.machine()}")
    binary = CONTRACTS_DIR / "node_modules" / "@foundry-rs" / f"anvil-{target}" / "bin" / "anvil"
    if not binary.exists():
        raise RuntimeError(f"{binary} is missing: run `npm ci --ignore-scripts` in {CONTRACTS_DIR} (make does)")
    return binary


@dataclass
class Anvil:
    """A running anvil: its JSON-RPC URL and its process (`stop()` ends it)."""

    process: subprocess.Popen[bytes]
    rpc_url: str
    log_path: Path
    _log: IO[bytes] = field(repr=False)
    _temporary_log: bool = field(default=False, repr=False)

    def stop(self) -> None:
        """End anvil (its chain is gone with it) and remove its log unless the caller named the file."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        self.remove_log()

    def remove_log(self) -> None:
        """Remove the log when it is a temporary file (anvil has ended or is being killed)."""
        if self._temporary_log:
            self.log_path.unlink(missing_ok=True)


def start_anvil(port: int = 0, *, block_time: float | None = None, log_path: Path | None = None) -> Anvil:
    """Start anvil on 127.0.0.1:`port` (0: a free port anvil picks) and wait until it answers JSON-RPC.

    Without `block_time` every transaction is mined at once in a block of its own (automine); with it, a block
    every `block_time` seconds and transactions wait for the next one, as on a real chain. Its log (every request
    and transaction) goes to `log_path`, else to a temporary file that `stop()` removes."""
    binary = anvil_binary()
    log_file: IO[bytes]
    temporary = log_path is None
    if log_path is None:
        log_file = tempfile.NamedTemporaryFile(prefix="anvil-", suffix=".log", delete=False)
        log_path = Path(log_file.name)
    else:
        log_file = log_path.open("wb")
    command = [
        str(binary),
        "--host",
        HOST,
        "--port",
        str(port),
        "--chain-id",
        str(CHAIN_ID),
        "--hardfork",
        HARDFORK,
        "--mnemonic",
        MNEMONIC,
        "--accounts",
        str(ACCOUNTS),
    ]
    if block_time is not None:
        command += ["--block-time", str(block_time)]
    process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    anvil = Anvil(process=process, rpc_url="", log_path=log_path, _log=log_file, _temporary_log=temporary)
    try:
        anvil.rpc_url = f"http://{HOST}:{_wait_listening(anvil)}"
        _wait_answering(anvil)
    except BaseException:
        anvil.stop()
        raise
    return anvil


def _wait_listening(anvil: Anvil) -> int:
    """The port from anvil's "Listening on 127.0.0.1:<port>" line."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if anvil.process.poll() is not None:
            raise RuntimeError(f"anvil exited with {anvil.process.returncode}; see {anvil.log_path}")
        for line in anvil.log_path.read_text(errors="replace").splitlines():
            if line.startswith(f"Listening on {HOST}:"):
                return int(line.rsplit(":", 1)[1])
        time.sleep(0.05)
    raise RuntimeError(f"anvil did not start within {START_TIMEOUT_S:.0f} s; see {anvil.log_path}")


def _wait_answering(anvil: Anvil) -> None:
    body = b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}'
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        request = urllib.request.Request(anvil.rpc_url, body, {"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=1) as reply:
                if b'"result"' in reply.read():
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"anvil at {anvil.rpc_url} does not answer; see {anvil.log_path}")
        time.sleep(0.05)


@dataclass(frozen=True)
class LocalChain:
    """The contracts on the local chain, and the keys that act on them there."""

    rpc_url: str
    chain_id: int
    token: str
    settlement: str
    settlement_block: int
    owner: DevAccount  # also the test token's minter
    relayer: DevAccount

    def __str__(self) -> str:
        return "\n".join(
            (
                f"chain       {self.rpc_url} (chain id {self.chain_id})",
                f"USDC        {self.token} (TestUSDC, 6 decimals, minted by {self.owner.address})",
                f"settlement  {self.settlement} (block {self.settlement_block}, owner {self.owner.address})",
                f"relayer     {self.relayer.address}",
            )
        )


def deploy_local(rpc_url: str) -> LocalChain:
    """Deploy TestUSDC and LuxxonSettlement (owner and minter = DEPLOYER, relayer = RELAYER) through the same
    `luxxon.admin.deploy` the production deploy uses."""
    from luxxon.admin.deploy import connect, deploy

    deployment = deploy(connect(rpc_url), DEPLOYER.key, usdc=None, relayer=RELAYER.address)
    return LocalChain(
        rpc_url=rpc_url,
        chain_id=deployment.chain_id,
        token=deployment.token,
        settlement=deployment.settlement,
        settlement_block=deployment.settlement_block,
        owner=DEPLOYER,
        relayer=RELAYER,
    )


if __name__ == "__main__":  # python -m luxxon.local.chain: a chain with the contracts, until Ctrl-C
    node = start_anvil(int(sys.argv[1]) if len(sys.argv) > 1 else 8545)
    try:
        print(deploy_local(node.rpc_url), flush=True)
        node.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        node.stop()
