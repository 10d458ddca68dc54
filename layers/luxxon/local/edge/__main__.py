"""python -m luxxon.local.edge --host 127.0.0.1 --port 8787 --token T [--webhook-url URL --webhook-secret S]

Prints one line `edge listening on <url> api_base=<url>/client/v4` once it accepts requests; Ctrl-C stops it.
Every option also reads an environment variable (LX_EDGE_HOST, LX_EDGE_PORT, LX_EDGE_TOKEN, LX_EDGE_WEBHOOK_URL,
LX_EDGE_WEBHOOK_SECRET, LX_EDGE_PUBLIC_URL, LX_EDGE_MEDIA_TIMEOUT_S).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys

from luxxon.local.edge.server import start_edge


def _parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m luxxon.local.edge", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default=env("LX_EDGE_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env("LX_EDGE_PORT", "8787")))
    parser.add_argument("--token", default=env("LX_EDGE_TOKEN"), help="the API token REST calls must bear")
    parser.add_argument("--webhook-url", default=env("LX_EDGE_WEBHOOK_URL"))
    parser.add_argument("--webhook-secret", default=env("LX_EDGE_WEBHOOK_SECRET"))
    parser.add_argument("--public-url", default=env("LX_EDGE_PUBLIC_URL"), help="base of WHIP/WHEP URLs")
    parser.add_argument("--media-timeout", type=float, default=float(env("LX_EDGE_MEDIA_TIMEOUT_S", "5")))
    parser.add_argument("--relay", choices=["forward", "mediarelay"], default="forward", help=argparse.SUPPRESS)
    parser.add_argument("--log-level", default=env("LX_EDGE_LOG_LEVEL", "INFO"))
    return parser


async def _serve(args: argparse.Namespace) -> None:
    edge = await start_edge(
        args.host,
        args.port,
        token=args.token,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        public_url=args.public_url,
        media_timeout_s=args.media_timeout,
        relay_mode=args.relay,
    )
    print(f"edge listening on {edge.url} api_base={edge.api_base}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await edge.close()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not args.token:
        print("--token (or LX_EDGE_TOKEN) is required", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aioice").setLevel(logging.WARNING)
    logging.getLogger("aiortc").setLevel(logging.WARNING)
    try:
        asyncio.run(_serve(args))
    except ValueError as error:
        print(str(error), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
