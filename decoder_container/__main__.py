"""python -m decoder_container [--processes N]      the supervisor and its worker processes (the container's CMD)
python -m decoder_container worker [--index I]     one worker process (what the supervisor starts)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from decoder_container.config import DecoderConfig


def run_worker(config: DecoderConfig) -> int:
    from decoder_container.worker import Worker
    from luxxon import wiring
    from luxxon.config import get_settings

    worker = Worker(
        config,
        leases=wiring.leases(),
        frames=wiring.frames(),
        go_live=wiring.sessions().go_live,
        frame_ttl_s=get_settings().frame_ttl_s,
        media_stalled=wiring.windows().media_stalled,
        media_resumed=wiring.windows().media_resumed,
    )

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await worker.run(stop)

    asyncio.run(serve())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m decoder_container", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("role", nargs="?", choices=["supervisor", "worker"], default="supervisor")
    parser.add_argument("--processes", type=int, help="worker processes (default: LX_DECODER_PROCESSES or CPUs)")
    parser.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    config = DecoderConfig.from_env()
    if args.processes is not None:
        config = config.model_copy(update={"processes": args.processes})
    if args.role == "worker":
        return run_worker(config)
    from decoder_container.supervisor import Supervisor

    return Supervisor(config).run()


if __name__ == "__main__":
    sys.exit(main())
