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
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
from functools import partial
from pathlib import Path
from typing import IO

from luxxon.db import server as db_server
from luxxon.local import database, gateway, settlement

HOST = os.environ.get("LX_HOST", "127.0.0.1")
PORT = int(os.environ.get("LX_PORT", "8080"))
EDGE_PORT = int(os.environ.get("LX_EDGE_PORT", "8787"))
CHAIN_PORT = int(os.environ.get("LX_CHAIN_PORT", "8545"))
WORKERS = int(os.environ.get("LX_GATEWAY_WORKERS", "8"))
SQS_PORT = int(os.environ.get("LX_SQS_PORT", "9324"))
SWEEP_EVERY_S = float(os.environ.get("LX_SWEEP_EVERY_S", "30"))
INDEX_EVERY_S = 1.0
CONFIRMATIONS = 2  # a settlement is CONFIRMED two one-second blocks after it is mined


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _ensure_redis() -> None:
    if _listening(6379):
        return
    if shutil.which("redis-server") is None:
        print("warning: no Redis on 127.0.0.1:6379 (apt-get install redis-server); GET /frame will fail", flush=True)
        return
    subprocess.run(
        ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", "6379", "--save", ""], check=True
    )


def _echo(stream: IO[str]) -> None:
    for line in stream:
        print(line, end="", flush=True)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _child(args: list[str], env: dict[str, str], ready: str | None = None) -> subprocess.Popen[str]:
    """Start a child process; when `ready` is given, wait for that text on its first output line."""
    proc = subprocess.Popen([sys.executable, *args], env=env, stdout=subprocess.PIPE if ready else None, text=True)
    if ready and proc.stdout is not None:
        line = proc.stdout.readline()
        if ready not in line:
            proc.terminate()
            raise SystemExit(f"{args[1]} did not start: {line.strip()}")
        threading.Thread(target=_echo, args=(proc.stdout,), daemon=True).start()
    return proc


def _sweep_forever(server: gateway.Gateway, stop: threading.Event) -> None:
    while not stop.wait(SWEEP_EVERY_S):
        try:
            server.run(gateway.invoke_scheduled, "functions.sweep.handler", timeout=60)
        except Exception as error:  # noqa: BLE001 - a failed sweep is retried on the next tick
            print(f"sweep failed: {error}", flush=True)


def main() -> int:
    admin_url = database.server_url(Path.cwd() / ".local")
    database.ensure_postgis(admin_url)
    url = db_server.create_database(admin_url, database.database_name())
    _ensure_redis()
    # The local EVM (anvil from npm) with the settlement contracts deployed; one-second blocks so confirmations advance.
    from luxxon.local.chain import deploy_local, start_anvil

    anvil = start_anvil(CHAIN_PORT, block_time=1)
    chain = deploy_local(anvil.rpc_url)
    sqs_server = settlement.start_sqs(SQS_PORT)
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
        **settlement.AWS_ENV,
    }
    os.environ.update(env)  # the gateway's workers (the "Lambdas") inherit it
    children = [_child(["-m", "luxxon.local.edge"], env, ready="edge listening on")]
    if (Path(__file__).resolve().parents[3] / "decoder_container" / "__main__.py").exists():
        children.append(_child(["-m", "decoder_container"], env))
    server = gateway.serve(HOST, PORT, WORKERS)
    stop = threading.Event()
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
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.server_close()
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
        anvil.stop()
        sqs_server.terminate()
    return 0


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())


if __name__ == "__main__":
    sys.exit(main())
