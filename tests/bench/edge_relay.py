"""Edge relay cost: the edge process's CPU per subscriber, forwarding encoded media vs aiortc's MediaRelay.

    .venv/bin/python -m tests.bench.edge_relay [--seconds 5] [--subscribers 1 4 16] [--smoke]

One 640x480@30 VP8 synthetic camera publishes to an edge running in its own process; 1, 4 and 16 WHEP
subscribers (in this process, counting encoded frames without decoding them) watch it. For each count the
edge's CPU time (from /proc, Linux) is sampled over a steady window and reported as
- CPU s per subscriber-second: edge CPU seconds / (subscribers x window seconds),
- marginal: the same above the publisher-only baseline (what one more viewer costs),
- fps: encoded frames each subscriber received per second (30 means every frame arrived).
`forward` is the edge as shipped; `mediarelay` decodes once and re-encodes per subscriber (aiortc MediaRelay).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from dataclasses import dataclass

from luxxon.adapters.video import CloudflareStream
from luxxon.local.camera import publish
from luxxon.local.edge.client import Subscription, subscribe
from tests.bench.common import options, start_edge_process

TOKEN = "bench-token"
WARMUP_S = 2.0


@dataclass
class Sample:
    mode: str
    subscribers: int
    cpu_s: float
    window_s: float
    fps: list[float]

    @property
    def cpu_share(self) -> float:
        return self.cpu_s / self.window_s


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


async def measure(mode: str, counts: list[int], seconds: float, warmup: float) -> list[Sample]:
    process, api_base = start_edge_process(TOKEN, "--relay", mode)
    samples = []
    try:
        live_input = await asyncio.to_thread(CloudflareStream("bench", TOKEN, base_url=api_base).create_live_input, "b")
        publication = await publish(live_input.whip_url, width=640, height=480, fps=30, codec="VP8")
        for count in [0, *counts]:
            viewers: list[Subscription] = [await subscribe(live_input.whep_url, decode=False) for _ in range(count)]
            await asyncio.sleep(warmup)
            frames_before = [v.encoded_frames for v in viewers]
            cpu_before, started = cpu_seconds(process.pid), time.monotonic()
            await asyncio.sleep(seconds)
            cpu_after, window = cpu_seconds(process.pid), time.monotonic() - started
            fps = [(v.encoded_frames - b) / window for v, b in zip(viewers, frames_before, strict=True)]
            samples.append(Sample(mode, count, cpu_after - cpu_before, window, fps))
            for viewer in viewers:
                await viewer.close()
            await asyncio.sleep(0.5)
        await publication.close()
    finally:
        process.terminate()
        process.wait(10)
    return samples


def report(samples: list[Sample]) -> None:
    print(f"{'relay':<11}{'subs':>5}{'edge CPU':>10}{'CPU s/sub-s':>13}{'marginal':>10}{'fps min/avg':>14}")
    baseline = {s.mode: s.cpu_share for s in samples if s.subscribers == 0}
    for s in samples:
        if s.subscribers == 0:
            print(f"{s.mode:<11}{0:>5}{s.cpu_share:>9.1%}{'-':>13}{'-':>10}{'-':>14}   (publisher only)")
            continue
        per_sub = s.cpu_share / s.subscribers
        marginal = (s.cpu_share - baseline[s.mode]) / s.subscribers
        fps = f"{min(s.fps):.1f}/{sum(s.fps) / len(s.fps):.1f}"
        print(f"{s.mode:<11}{s.subscribers:>5}{s.cpu_share:>9.1%}{per_sub:>13.4f}{marginal:>10.4f}{fps:>14}")


async def main(seconds: float, counts: list[int], warmup: float) -> None:
    print(f"edge relay bench: one 640x480@30 VP8 publisher, {seconds:g} s windows, {os.cpu_count()} CPUs")
    samples = []
    for mode in ("forward", "mediarelay"):
        samples += await measure(mode, counts, seconds, warmup)
    report(samples)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--subscribers", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--warmup", type=float, default=WARMUP_S, help="seconds before each window")
    args = options(parser, seconds=0.5, subscribers=[1], warmup=0.5)
    asyncio.run(main(args.seconds, args.subscribers, args.warmup))
