"""The task's main process: N worker processes (one per CPU by default), restarted when they die.

A worker is `python -m decoder_container worker`, a process of its own: aiortc's receive path and the JPEG
encoder are Python on one event loop, so processes (not threads) are what use every core. The supervisor
forwards SIGTERM/SIGINT (each worker then releases its leases), waits up to `stop_grace_s`, and kills what is left.
It also publishes the DecoderBacklog metric (sessions that need a decoder and have none) every
`metrics_interval_s`, which the infrastructure scales on.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

from decoder_container.config import DecoderConfig
from luxxon.observability import logger

RESTART_MIN_S = 1.0
RESTART_MAX_S = 30.0
HEALTHY_AFTER_S = 60.0  # a worker that ran this long has its restart backoff reset


@dataclass
class Slot:
    index: int
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    restart_delay: float = RESTART_MIN_S
    restart_at: float = 0.0
    restarts: int = field(default=0)


def worker_command(index: int) -> list[str]:
    return [sys.executable, "-m", "decoder_container", "worker", "--index", str(index)]


class Supervisor:
    def __init__(self, config: DecoderConfig) -> None:
        self.config = config
        self.slots = [Slot(i) for i in range(config.process_count)]
        self._stop = threading.Event()

    def request_stop(self, *_: object) -> None:
        self._stop.set()

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self.request_stop)
        logger.info("decoder supervisor started", extra={"processes": len(self.slots)})
        next_metric = time.monotonic() + self.config.metrics_interval_s
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                for slot in self.slots:
                    self._tend(slot, now)
                if self.config.metrics_interval_s and now >= next_metric:
                    publish_backlog()
                    next_metric = now + self.config.metrics_interval_s
                self._stop.wait(0.5)
        finally:
            self._shutdown()
        return 0

    def _tend(self, slot: Slot, now: float) -> None:
        process = slot.process
        if process is not None and process.poll() is None:
            if now - slot.started > HEALTHY_AFTER_S:
                slot.restart_delay = RESTART_MIN_S
            return
        if process is not None:  # it died: restart after a backoff
            logger.warning(
                "decoder worker exited", extra={"index": slot.index, "code": process.returncode, "pid": process.pid}
            )
            slot.process = None
            slot.restart_at = now + slot.restart_delay
            slot.restart_delay = min(RESTART_MAX_S, slot.restart_delay * 2)
            slot.restarts += 1
        if now >= slot.restart_at:
            slot.process = subprocess.Popen(worker_command(slot.index))
            slot.started = now

    def _shutdown(self) -> None:
        running = [s.process for s in self.slots if s.process is not None and s.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.config.stop_grace_s
        for process in running:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        logger.info("decoder supervisor stopped")


def publish_backlog() -> None:
    """Sessions that need a decoder and hold no live lease (a gauge; the infrastructure scales out on it)."""
    try:
        from aws_lambda_powertools.metrics import MetricUnit

        from luxxon import wiring
        from luxxon.observability import metrics

        waiting = wiring.leases().backlog()
        metrics.add_metric(name="DecoderBacklog", unit=MetricUnit.Count, value=waiting)
        metrics.flush_metrics()
    except Exception as error:  # never let a metric take the supervisor down
        logger.warning("decoder backlog metric failed", extra={"error": repr(error)})
