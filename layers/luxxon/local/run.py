"""Start the local system, the cloud in miniature, with one command (the README's `make run`):

- PostgreSQL + PostGIS (DATABASE_URL, else 127.0.0.1:5432, else a private cluster) with the migrated database,
- Redis for frames (the one on 127.0.0.1:6379, started when absent and installed),
- the local video edge (Cloudflare Stream's live-input contract, WHIP/WHEP, Notifications webhooks to the API),
- a local EVM (anvil, from the npm package in layers/contracts) with TestUSDC and LuxxonSettlement deployed,
- the decoder service (the Fargate container's code),
- the API gateway (HTTP → API Gateway proxy events → the handler modules of the route table),
- SQS (moto's server) with the settlement queue and its dead-letter queue, a poller feeding the relayer Lambda's
  handler (Lambda's event source mapping) and the chain indexer every second,
- the scheduler that invokes the sweep Lambda every 30 s (EventBridge's job in AWS).

Ctrl-C (SIGINT, to this process or its whole process group) or SIGTERM stops all of it within a few seconds and frees
every port (`_Running.stop`); a second one kills what is left and exits at once. Both handlers are installed here, so
this holds even when the process started with SIGINT ignored (what `make run &` in a script or a non-interactive shell
does, and where Python installs no KeyboardInterrupt of its own).
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from functools import partial
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit

from luxxon.config import get_settings
from luxxon.db import server as db_server
from luxxon.local import database, gateway, settlement

if TYPE_CHECKING:
    from luxxon.local.chain import Anvil

HOST = os.environ.get("LX_HOST", "127.0.0.1")
PORT = int(os.environ.get("LX_PORT", "8080"))
EDGE_PORT = int(os.environ.get("LX_EDGE_PORT", "8787"))
CHAIN_PORT = int(os.environ.get("LX_CHAIN_PORT", "8545"))
WORKERS = int(os.environ.get("LX_GATEWAY_WORKERS", "8"))
SQS_PORT = int(os.environ.get("LX_SQS_PORT", "9324"))
SWEEP_EVERY_S = float(os.environ.get("LX_SWEEP_EVERY_S", "30"))
INDEX_EVERY_S = 1.0
CONFIRMATIONS = 2  # a settlement is CONFIRMED two one-second blocks after it is mined
CHILD_GRACE_S = 5.0  # after SIGTERM, how long the edge, the decoder, anvil and SQS have to exit before SIGKILL
DECODER_STOP_GRACE_S = "3"
REDIS_START_S = 5.0  # the decoder supervisor's wait for its workers, inside CHILD_GRACE_S


def _listening(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _start_redis() -> subprocess.Popen[bytes] | None:
    """The frame store's Redis (LX_REDIS_URL, 127.0.0.1:6379 by default): used when something listens there, else
    started on this machine as a child, so it stops with the rest (None: not started here)."""
    url = urlsplit(get_settings().redis_url)
    host, port = url.hostname or "127.0.0.1", url.port or 6379
    if _listening(host, port):
        return None
    if shutil.which("redis-server") is None or host not in ("127.0.0.1", "localhost"):
        print(f"warning: no Redis on {host}:{port} (apt-get install redis-server); GET /frame will fail", flush=True)
        return None
    process = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + REDIS_START_S
    while not _listening("127.0.0.1", port):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"redis-server did not start on 127.0.0.1:{port}")
        time.sleep(0.05)
    return process


def _echo(stream: IO[str]) -> None:
    for line in stream:
        print(line, end="", flush=True)


class _Running:
    """What `main` started, and the one way to stop it all (`stop`). The first SIGINT or SIGTERM raises
    KeyboardInterrupt in the main thread (out of the start-up or of `serve_forever`, into `stop`); a second one, while
    that runs, kills what is left and exits at once."""

    def __init__(self) -> None:
        self.stopping = threading.Event()  # the poller, the indexer and the sweep run until it is set
        self.children: list[subprocess.Popen[Any]] = []
        self.anvil: Anvil | None = None
        self.gateway: gateway.Gateway | None = None
        self.cluster: database.PrivateCluster | None = None  # the PostgreSQL cluster, when this run started it

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if not self.stopping.is_set():
            self.stopping.set()
            raise KeyboardInterrupt
        os.write(2, b"\nstopping now: killing what is left\n")  # not print(): the main thread may be inside one
        self.kill()
        os._exit(128 + signum)

    def stop(self) -> None:
        """SIGTERM every child at once, so they wind down while the gateway stops accepting and ends its workers;
        then reap each child (SIGKILL after CHILD_GRACE_S), so none is left behind, not even as a zombie."""
        self.stopping.set()
        for child in self.children:
            child.terminate()
        deadline = time.monotonic() + CHILD_GRACE_S
        if self.gateway is not None:
            self.gateway.server_close()
        for child in self.children:
            try:
                child.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if self.anvil is not None:
            self.anvil.stop()  # it has exited: this closes its log (and removes it when temporary)
        if self.cluster is not None:
            self.cluster.stop()

    def kill(self) -> None:
        """Inside a signal handler: SIGKILL everything and wait for nothing (the interrupted main thread may hold a
        child's lock); the cluster this run started gets an immediate shutdown request."""
        workers = [worker.pid for worker in multiprocessing.active_children() if worker.pid is not None]
        for pid in [child.pid for child in self.children] + workers:  # the gateway's workers too
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.anvil is not None:
            self.anvil.remove_log()
        if self.cluster is not None:
            self.cluster.stop_now()


def _child(
    children: list[subprocess.Popen[Any]], args: list[str], env: dict[str, str], ready: str | None = None
) -> None:
    """Start a child process (into `children`); when `ready` is given, wait for that text on its first output line."""
    proc = subprocess.Popen([sys.executable, *args], env=env, stdout=subprocess.PIPE if ready else None, text=True)
    children.append(proc)
    if ready and proc.stdout is not None:
        line = proc.stdout.readline()
        if ready not in line:
            raise SystemExit(f"{args[1]} did not start: {line.strip()}")
        threading.Thread(target=_echo, args=(proc.stdout,), daemon=True).start()


def _sweep_forever(server: gateway.Gateway, stop: threading.Event) -> None:
    while not stop.wait(SWEEP_EVERY_S):
        try:
            server.run(gateway.invoke_scheduled, "functions.sweep.handler", timeout=60)
        except Exception as error:  # noqa: BLE001 - a failed sweep is retried on the next tick
            if not stop.is_set():
                print(f"sweep failed: {error}", flush=True)


def main() -> int:
    running = _Running()
    # SIGINT too: a process started with it ignored (`make run &` in a script) gets no KeyboardInterrupt from Python.
    signal.signal(signal.SIGINT, running.on_signal)
    signal.signal(signal.SIGTERM, running.on_signal)
    try:
        _start(running).serve_forever()
    except KeyboardInterrupt:
        print("\nstopping (Ctrl-C again to kill it at once)", flush=True)
    finally:
        running.stop()
    return 0


def _start(running: _Running) -> gateway.Gateway:
    """Start everything (each process into `running` as soon as it exists) and return the gateway, not yet serving."""
    admin_url, running.cluster = database.server(Path.cwd() / ".local")
    database.ensure_postgis(admin_url)
    url = db_server.create_database(admin_url, database.database_name())
    if (redis := _start_redis()) is not None:
        running.children.append(redis)
    # The local EVM (anvil from npm) with the settlement contracts deployed; one-second blocks so confirmations advance.
    from luxxon.local.chain import deploy_local, start_anvil

    anvil = running.anvil = start_anvil(CHAIN_PORT, block_time=1)
    running.children.append(anvil.process)
    chain = deploy_local(anvil.rpc_url)
    running.children.append(settlement.start_sqs(SQS_PORT))
    sqs_endpoint = f"http://127.0.0.1:{SQS_PORT}"
    os.environ.update(settlement.AWS_ENV)
    queue_url = settlement.create_queues(settlement.client(sqs_endpoint))
    # For the tools run beside it (python -m luxxon.admin … --fund, redrive-settlements).
    (Path.cwd() / ".local").mkdir(exist_ok=True)
    (Path.cwd() / ".local" / "settlement.json").write_text(
        json.dumps(
            {
                "rpcUrl": anvil.rpc_url,
                "token": chain.token,
                "settlement": chain.settlement,
                "queueUrl": queue_url,
                "sqsEndpoint": sqs_endpoint,
            },
            indent=2,
        )
    )
    edge_token, webhook_secret = secrets.token_urlsafe(24), secrets.token_urlsafe(32)
    token_key = secrets.token_urlsafe(32)  # seals the API's consistency tokens (luxxon.api.consistency)
    api_base = f"http://{HOST}:{PORT}/api/v1"
    edge_api = f"http://127.0.0.1:{EDGE_PORT}/client/v4"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "POWERTOOLS_METRICS_NAMESPACE": os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Luxxon"),
        "POWERTOOLS_METRICS_DISABLED": os.environ.get("POWERTOOLS_METRICS_DISABLED", "true"),
        "LX_CLOUDFLARE_API_BASE": edge_api,
        "LX_CLOUDFLARE_ACCOUNT_ID": "local",
        "LX_CLOUDFLARE_API_TOKEN": edge_token,
        "LX_STREAM_WEBHOOK_SECRET": webhook_secret,
        "LX_CONSISTENCY_TOKEN_KEY": token_key,
        "LX_EDGE_TOKEN": edge_token,
        "LX_EDGE_WEBHOOK_SECRET": webhook_secret,
        "LX_EDGE_WEBHOOK_URL": f"{api_base}/webhooks/stream",
        "LX_EDGE_PORT": str(EDGE_PORT),
        "LX_CHAIN_RPC_URL": anvil.rpc_url,
        "LX_CHAIN_ID": str(chain.chain_id),
        "LX_CHAIN_TOKEN_ADDRESS": chain.token,
        "LX_CHAIN_SETTLEMENT_ADDRESS": chain.settlement,
        "LX_CHAIN_START_BLOCK": str(chain.settlement_block),
        "LX_CHAIN_CONFIRMATIONS": str(CONFIRMATIONS),
        "LX_RELAYER_KEY": chain.relayer.key,
        "LX_SETTLEMENT_QUEUE_URL": queue_url,
        "AWS_ENDPOINT_URL_SQS": sqs_endpoint,
        "LX_DECODER_STOP_GRACE_S": os.environ.get("LX_DECODER_STOP_GRACE_S", DECODER_STOP_GRACE_S),
        **settlement.AWS_ENV,
    }
    os.environ.update(env)  # the gateway's workers (the "Lambdas") inherit it
    _child(running.children, ["-m", "luxxon.local.edge"], env, ready="edge listening on")
    if (Path(__file__).resolve().parents[3] / "decoder_container" / "__main__.py").exists():
        _child(running.children, ["-m", "decoder_container"], env)
    server = running.gateway = gateway.serve(HOST, PORT, WORKERS)
    stop = running.stopping
    threading.Thread(target=_sweep_forever, args=(server, stop), daemon=True).start()
    # The relayer and the indexer run in the gateway's worker processes, as Lambdas would (web3 loads only there).
    poller = settlement.SqsPoller(
        settlement.client(sqs_endpoint),
        queue_url,
        lambda event: server.run(gateway.invoke, "functions.relayer.handler", event, timeout=60),
    )
    threading.Thread(target=poller.run, args=(stop,), daemon=True).start()
    index = partial(server.run, gateway.invoke_scheduled, "functions.indexer.handler", timeout=60)
    threading.Thread(target=settlement.every, args=(INDEX_EVERY_S, index, stop, "indexer"), daemon=True).start()
    print(
        f"""
Luxxon is up.
  API          {api_base}
  OpenAPI      {api_base}/openapi.json   (docs: {api_base}/docs)
  Video edge   {edge_api} (WHIP/WHEP over 127.0.0.1)
  Database     {db_server.with_dbname(url, database.database_name())}
  Local EVM    anvil, a block a second; the settlement contracts deployed:
{_indent(str(chain))}
  SQS          {sqs_endpoint} (moto): {queue_url} → the relayer; the indexer every second

Create a consumer with 2 test USDC in its pool, and a supplier (each prints its API key once and its wallet):
  .venv/bin/python -m luxxon.admin create-workspace --name consumer --roles CONSUMER --fund 2
  .venv/bin/python -m luxxon.admin create-workspace --name supplier --roles SUPPLIER --dev-wallet \\
      --availability ONLINE --coverage 4.71,-74.07,5000

Then, for example:
  curl -s -X POST {api_base}/sessions -H "Authorization: Bearer $KEY" -H 'content-type: application/json' \\
       -d '{{"lat": 4.71, "lng": -74.07, "maxDurationSeconds": 300}}'
Or run the whole flow with real WebRTC: make demo
Ctrl-C stops everything.""",
        flush=True,
    )
    return server


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())


if __name__ == "__main__":
    sys.exit(main())
