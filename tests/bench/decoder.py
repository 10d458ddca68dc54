"""Frame decoder figures: first-frame latency, frame freshness, CPU per stream-second against raw PyAV, memory.

    .venv/bin/python -m tests.bench.decoder [--seconds 10] [--vp8 1 8 24] [--h264 1 8 24] [--trials 5] [--smoke]

The whole path is real and on this machine: a scratch database, a private Redis and anvil (POST /sessions checks the
consumer's pool), the local edge in its own process, sessions started through the API (in-process handlers), and one
decoder worker process (decoder_container.worker.Worker, the code the container runs) whose CPU and memory are read
from /proc. What it prints:

(a) latency: from the publisher connected (WHIP publish returned) to the first JPEG in the frame store and to
    state LIVE in the database, polled every 5 ms; the publisher is the synthetic camera (640x480@30, real encoder
    answering keyframe requests). "warm": the decoder was subscribed before the publisher connected (the usual
    case: /start comes first); "cold": the publisher connected right after /start.
(b) freshness: the age of the stored JPEG (now - its decode time) read at random moments over the window.
(c) CPU: decoder-process CPU seconds per stream-second at N concurrent 640x480@30 sessions, against a raw PyAV
    decode of the same encoded frames (same decoder aiortc uses, one thread: CPU per frame x 30). Publishers replay
    a pre-encoded 10 s clip (aiortc's VP8 settings / libx264 baseline, ~1 Mbit/s), because real-time encoders for
    24 cameras do not fit in 2 cores next to the edge and the decoder; a keyframe request restarts the clip at its
    keyframe, as a camera would send one. fps = frames decoded / frames sent over the window, per session.
(d) memory: (peak RSS of the decoder process during the run - its RSS before any session) / N.
Every process shares the same cores; the edge's and the publishers' CPU is printed for context.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fractions
import io
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from tests.bench.common import PLACE, local_chain, options, parties, private_redis, scratch_database, start_edge_process

if TYPE_CHECKING:
    from tests.chain.driver import Chain

WIDTH, HEIGHT, FPS = 640, 480, 30
CLIP_FRAMES = 300
BITRATE = 1_000_000
TOKEN = "bench-token"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- /proc ------------------------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime, all threads


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds by thread name (aiortc's decoder threads are "video-decoder"; the event loop is the process name)."""
    out: dict[str, float] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as stat:
                head, rest = stat.read().rsplit(")", 1)
        except FileNotFoundError:
            continue
        name = head.split("(", 1)[1]
        fields = rest.split()
        name = "event loop" if tid == str(pid) else name.rstrip("0123456789_")
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


def memory_kib(pid: int) -> dict[str, int]:
    with open(f"/proc/{pid}/status") as status:
        return {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in status) if k in ("VmRSS", "VmHWM")}


def reset_peak_rss(pid: int) -> None:
    with open(f"/proc/{pid}/clear_refs", "w") as refs:
        refs.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)


# -- the encoded clip and a publisher that replays it ------------------------------------------------------------


def encode_clip(codec: str, frames: int = CLIP_FRAMES) -> list[bytes]:
    import av

    from luxxon.local.camera import SyntheticCamera

    camera = SyntheticCamera(WIDTH, HEIGHT, FPS)
    if codec == "VP8":  # aiortc's Vp8Encoder settings, at a fixed 1 Mbit/s
        ctx = av.CodecContext.create("libvpx", "w")
        ctx.options = {
            "bufsize": str(BITRATE),
            "cpu-used": "-6",
            "deadline": "realtime",
            "lag-in-frames": "0",
            "minrate": str(BITRATE),
            "maxrate": str(BITRATE),
            "noise-sensitivity": "4",
            "overshoot-pct": "15",
            "partitions": "0",
            "static-thresh": "1",
            "undershoot-pct": "100",
        }
        ctx.gop_size, ctx.qmin, ctx.qmax = 3000, 2, 56
    else:  # aiortc's H264Encoder settings
        ctx = av.CodecContext.create("libx264", "w")
        ctx.options = {"level": "31", "tune": "zerolatency"}
        ctx.profile = "Baseline"
    ctx.width, ctx.height, ctx.pix_fmt, ctx.bit_rate = WIDTH, HEIGHT, "yuv420p", BITRATE
    ctx.framerate, ctx.time_base = fractions.Fraction(FPS, 1), fractions.Fraction(1, FPS)
    clip: list[bytes] = []
    for n in range(frames):
        frame = camera._draw(n)
        frame.pts = n
        data = b"".join(bytes(p) for p in ctx.encode(frame))
        if data:
            clip.append(data)
    return clip


def raw_decode_cpu_per_frame(codec: str, clip: list[bytes], rounds: int = 3) -> float:
    """CPU seconds per frame of a bare PyAV decode of the clip (aiortc's decoder: libvpx / h264, one thread)."""
    import av

    best = float("inf")
    for _ in range(rounds):
        ctx = av.CodecContext.create("libvpx" if codec == "VP8" else "h264", "r")
        ctx.thread_count = 1
        started = time.thread_time()
        for data in clip:
            ctx.decode(av.Packet(data))
        best = min(best, (time.thread_time() - started) / len(clip))
    return best


class ReplayPublisher:
    """A WHIP publisher that sends a pre-encoded clip at 30 fps and restarts it at its keyframe on a PLI."""

    def __init__(self, clip: list[bytes]) -> None:
        from aiortc.mediastreams import VIDEO_TIME_BASE, MediaStreamError, MediaStreamTrack

        publisher = self

        class Track(MediaStreamTrack):
            kind = "video"

            async def recv(self) -> Any:
                import av

                if self.readyState != "live":
                    raise MediaStreamError
                return await publisher._next(av, VIDEO_TIME_BASE)

        self.clip = clip
        self.track = Track()
        self.sent = 0
        self._index = 0
        self._start: float | None = None
        self.pc: Any = None
        self.resource = ""

    async def _next(self, av: Any, time_base: Any) -> Any:
        n = self.sent
        if self._start is None:
            self._start = time.monotonic()
        delay = self._start + n / FPS - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        packet = av.Packet(self.clip[self._index])
        packet.pts, packet.time_base = n * 90_000 // FPS, time_base
        self._index = (self._index + 1) % len(self.clip)
        self.sent += 1
        return packet

    def keyframe(self) -> None:
        self._index = 0

    async def start(self, whip_url: str, codec: str) -> None:
        from aiortc import RTCPeerConnection

        from luxxon.adapters.webrtc import rtc_configuration
        from luxxon.local.edge import media
        from luxxon.local.edge.client import negotiate, prepare_for, wait_connected

        prepare_for(whip_url)
        self.pc = RTCPeerConnection(rtc_configuration())
        transceiver = self.pc.addTransceiver(self.track, direction="sendonly")
        transceiver.setCodecPreferences(media.codec_capabilities([codec]))
        media.on_keyframe_request(transceiver.sender, self.keyframe)
        self.resource = await negotiate(whip_url, self.pc)
        await wait_connected(self.pc, 20)

    async def close(self) -> None:
        from luxxon.local.edge.client import end_session

        if self.resource:
            try:
                await end_session(self.resource)
            except Exception:  # noqa: BLE001 - the edge may have gone already
                pass
        await self.pc.close()


# -- the decoder process ----------------------------------------------------------------------------------------


def decoder_process(conn: Connection, env: dict[str, str]) -> None:
    """A decoder worker (the container's code) plus a pipe that answers stats requests."""
    os.environ.update(env)
    from decoder_container.config import DecoderConfig
    from decoder_container.worker import Worker
    from luxxon import wiring
    from luxxon.db.decoder import PgLeaseStore

    worker = Worker(
        DecoderConfig.from_env(), leases=PgLeaseStore(), frames=wiring.frames(), go_live=wiring.sessions().go_live
    )

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        async def stats() -> dict[str, Any]:
            return worker.stats()

        def serve() -> None:
            while True:
                message = conn.recv()
                if message == "stop":
                    loop.call_soon_threadsafe(stop.set)
                    return
                conn.send(asyncio.run_coroutine_threadsafe(stats(), loop).result())

        threading.Thread(target=serve, daemon=True).start()
        conn.send("ready")
        await worker.run(stop)

    asyncio.run(main())


class Decoder:
    def __init__(self, env: dict[str, str]) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=decoder_process, args=(child, env), daemon=True)
        self.process.start()
        assert self.conn.recv() == "ready"
        assert self.process.pid is not None
        self.pid = self.process.pid

    def stats(self) -> dict[str, Any]:
        self.conn.send("stats")
        reply: dict[str, Any] = self.conn.recv()
        return reply

    def stop(self) -> None:
        self.conn.send("stop")
        self.process.join(20)
        if self.process.is_alive():
            self.process.kill()


# -- the system under test ----------------------------------------------------------------------------------------


@dataclass
class System:
    api_base: str
    edge: subprocess.Popen[str]
    consumer: Any = None
    operator: Any = None
    env: dict[str, str] = field(default_factory=dict)

    def start_session(self) -> dict[str, Any]:
        from tests.conftest import call_api

        with quiet():
            return self._start_session(call_api)

    def _start_session(self, call_api: Any) -> dict[str, Any]:
        created = call_api("POST", "/api/v1/sessions", self.consumer.key, PLACE)
        assert created.status == 201, created.body
        session_id = created.data["id"]
        accepted = call_api("POST", f"/api/v1/sessions/{session_id}/accept", self.operator.key)
        assert accepted.status == 200, accepted.body
        reply = call_api("POST", f"/api/v1/sessions/{session_id}/start", self.operator.key)
        assert reply.status == 200, reply.body
        data: dict[str, Any] = reply.data
        return data

    def finish(self, session_id: str) -> None:
        from tests.conftest import call_api

        with quiet():
            self._finish(call_api, session_id)

    def _finish(self, call_api: Any, session_id: str) -> None:
        state = call_api("GET", f"/api/v1/sessions/{session_id}", self.consumer.key).data["state"]
        if state == "LIVE":
            reply = call_api("POST", f"/api/v1/sessions/{session_id}/end", self.consumer.key)
        else:
            reply = call_api("DELETE", f"/api/v1/sessions/{session_id}", self.consumer.key)
        assert reply.status == 200, reply.body


def quiet() -> contextlib.AbstractContextManager[Any]:
    """The in-process handlers flush their metrics (EMF) to stdout: keep them out of the figures."""
    return contextlib.redirect_stdout(io.StringIO())


def leased(session_ids: list[str]) -> bool:
    from luxxon.db.connection import connection

    row = (
        connection()
        .execute("SELECT count(*) AS n FROM decoder_leases WHERE session_id = ANY(%s::uuid[])", (session_ids,))
        .fetchone()
    )
    return row is not None and row["n"] == len(session_ids)


def session_state(session_id: str) -> str:
    from luxxon.db.connection import connection

    row = connection().execute("SELECT state FROM sessions WHERE id = %s", (session_id,)).fetchone()
    return str(row["state"]) if row else "?"


async def until(check: Callable[[], bool], timeout_s: float, interval_s: float = 0.005) -> float:
    """Poll `check` (in a thread: it may do I/O); returns the wall-clock time it first held."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await asyncio.to_thread(check):
            return time.time()
        await asyncio.sleep(interval_s)
    raise TimeoutError("condition not met")


# -- (a) latency ----------------------------------------------------------------------------------------------------


async def latency(system: System, codec: str, warm: bool) -> tuple[float, float, float]:
    """(publisher connected -> first JPEG stored, -> LIVE, first frame decoded -> JPEG stored) in seconds."""
    from luxxon import wiring
    from luxxon.local.camera import publish

    frames = wiring.frames()
    session = system.start_session()
    sid = session["id"]
    if warm:
        await until(lambda: leased([sid]), 10, 0.02)
        await asyncio.sleep(0.6)  # subscribed and connected to the edge, waiting for media
    camera = await publish(session["whipUrl"], WIDTH, HEIGHT, FPS, codec)  # type: ignore[arg-type]
    connected = time.time()
    stored, live = await asyncio.gather(
        until(lambda: frames.get(sid) is not None, 15), until(lambda: session_state(sid) == "LIVE", 15)
    )
    frame = frames.get(sid)
    await camera.close()
    await asyncio.to_thread(system.finish, sid)
    decode_to_store = stored - frame.captured_at.timestamp() if frame else float("nan")
    return stored - connected, live - connected, decode_to_store


# -- (b, c, d) steady state ---------------------------------------------------------------------------------------


@dataclass
class Run:
    codec: str
    sessions: int
    window_s: float
    cpu_s: float
    edge_cpu_s: float
    bench_cpu_s: float
    fps_ratio: list[float]
    rss_base_kib: int
    rss_peak_kib: int
    ages: list[float]
    resubscribes: int  # during the window
    threads: dict[str, float]
    keyframe_requests: int
    decode_errors: int

    @property
    def cpu_per_stream_s(self) -> float:
        return self.cpu_s / (self.sessions * self.window_s)


async def steady(system: System, codec: str, count: int, clip: list[bytes], seconds: float, warmup: float) -> Run:
    from luxxon import wiring

    decoder = Decoder(system.env)
    try:
        await asyncio.sleep(1.0)
        rss_base = memory_kib(decoder.pid)["VmRSS"]
        reset_peak_rss(decoder.pid)
        sessions = [await asyncio.to_thread(system.start_session) for _ in range(count)]
        ids = [s["id"] for s in sessions]
        await until(lambda: leased(ids), 30, 0.05)
        publishers = [ReplayPublisher(clip) for _ in sessions]
        await asyncio.gather(*(p.start(s["whipUrl"], codec) for p, s in zip(publishers, sessions, strict=True)))
        await until(lambda: all(session_state(i) == "LIVE" for i in ids), 30, 0.1)
        await asyncio.sleep(warmup)  # steady bitrate, every decoder past its first keyframe
        before = decoder.stats()
        sent_before = [p.sent for p in publishers]
        threads_before = thread_cpu(decoder.pid)
        cpu_before, edge_before, bench_before = (
            cpu_seconds(decoder.pid),
            cpu_seconds(system.edge.pid),
            cpu_seconds(os.getpid()),
        )
        started = time.monotonic()
        frames = wiring.frames()
        ages: list[float] = []
        while time.monotonic() - started < seconds:
            await asyncio.sleep(random.uniform(0.05, 0.25))
            frame = await asyncio.to_thread(frames.get, random.choice(ids))
            if frame is not None:
                ages.append(time.time() - frame.captured_at.timestamp())
        window = time.monotonic() - started
        cpu = cpu_seconds(decoder.pid) - cpu_before
        threads = {k: v - threads_before.get(k, 0.0) for k, v in thread_cpu(decoder.pid).items()}
        edge_cpu = cpu_seconds(system.edge.pid) - edge_before
        bench_cpu = cpu_seconds(os.getpid()) - bench_before
        after = decoder.stats()
        sent = [p.sent - b for p, b in zip(publishers, sent_before, strict=True)]
        ratios = [(after[i]["frames"] - before[i]["frames"]) / max(1, s) for i, s in zip(ids, sent, strict=True)]
        resubscribes = sum(after[i]["subscriptions"] - before[i]["subscriptions"] for i in ids)
        plis = sum(after[i]["keyframe_requests"] - before[i]["keyframe_requests"] for i in ids)
        errors = sum(after[i]["decode_errors"] - before[i]["decode_errors"] for i in ids)
        peak = memory_kib(decoder.pid)["VmHWM"]
        await asyncio.gather(*(p.close() for p in publishers))
        for session_id in ids:
            await asyncio.to_thread(system.finish, session_id)
    finally:
        decoder.stop()
    return Run(
        codec,
        count,
        window,
        cpu,
        edge_cpu,
        bench_cpu,
        ratios,
        rss_base,
        peak,
        ages,
        resubscribes,
        threads,
        plis,
        errors,
    )


# -- main -----------------------------------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bench(args: argparse.Namespace, chain: Chain) -> None:
    edge, api_base = start_edge_process(TOKEN)
    os.environ.update(
        {
            "LX_CLOUDFLARE_API_BASE": api_base,
            "LX_CLOUDFLARE_ACCOUNT_ID": "bench",
            "LX_CLOUDFLARE_API_TOKEN": TOKEN,
            "LX_FRAME_STORE": "redis",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "POWERTOOLS_METRICS_DISABLED": "true",
            # One operator holds every session of a run (the steady state runs up to 24 at once).
            "LX_MAX_ACTIVE_SESSIONS_PER_OPERATOR": "64",
        }
    )
    system = System(api_base, edge)
    system.env = {k: v for k, v in os.environ.items() if k.startswith(("LX_", "DATABASE_URL", "POWERTOOLS_"))}
    # One decoder process takes every session of a run (in production a busy process leaves new ones to others).
    system.env.update({"LX_DECODER_MAX_SESSIONS": "64", "LX_DECODER_MAX_CPU": "8"})
    try:
        system.consumer, system.operator = parties(chain)
        print(f"decoder bench: {os.cpu_count()} CPUs, 640x480@30, {args.seconds:g} s windows", flush=True)

        # (a) latency, with the synthetic camera (a real encoder)
        decoder = Decoder(system.env)
        try:
            print("\n(a) publisher connected -> first JPEG stored / -> LIVE  (median, max of trials; seconds)")
            for codec in ("VP8", "H264"):
                for warm in (True, False):
                    repeats = args.trials if warm else min(args.trials, 2)
                    trials = [await latency(system, codec, warm) for _ in range(repeats)]
                    jpeg, live, store = (list(x) for x in zip(*trials, strict=True))
                    print(
                        f"  {codec:<5}{'warm' if warm else 'cold':<6}first JPEG {statistics.median(jpeg):.3f} / "
                        f"{max(jpeg):.3f}   LIVE {statistics.median(live):.3f} / {max(live):.3f}   "
                        f"(decode->stored {statistics.median(store) * 1000:.0f} ms)",
                        flush=True,
                    )
        finally:
            decoder.stop()

        # (b, c, d) steady state, replayed clips
        runs: list[Run] = []
        raw: dict[str, float] = {}
        for codec, counts in (("VP8", args.vp8), ("H264", args.h264)):
            if not counts:
                continue
            clip = await asyncio.to_thread(encode_clip, codec, args.clip_frames)
            raw[codec] = raw_decode_cpu_per_frame(codec, clip)
            kbps = sum(map(len, clip)) * 8 / (len(clip) / FPS) / 1000
            print(
                f"\n{codec} clip: {len(clip)} frames, {kbps:.0f} kbit/s; raw PyAV decode"
                f" {raw[codec] * 1000:.3f} ms/frame = {raw[codec] * FPS:.4f} CPU s per stream-second",
                flush=True,
            )
            for count in counts:
                run = await steady(system, codec, count, clip, args.seconds, args.warmup)
                runs.append(run)
                print(f"  {codec} x{count}: done", flush=True)

        print("\n(b) freshness: age of the stored JPEG when read (s)")
        for run in runs:
            if run.ages:
                print(
                    f"  {run.codec:<5}x{run.sessions:<3} p50 {pct(run.ages, 0.5):.3f}  p99 {pct(run.ages, 0.99):.3f}  "
                    f"max {max(run.ages):.3f}  ({len(run.ages)} reads)"
                )
        print("\n(c) decoder CPU per stream-second vs raw PyAV decode; fps held = frames decoded / frames sent")
        print(
            f"  {'codec':<6}{'N':>3}{'decoder CPU':>13}{'per stream-s':>14}{'raw':>8}{'ratio':>7}"
            f"{'fps held min/avg':>18}{'PLI':>5}{'dec.err':>8}{'resub':>6}{'edge CPU':>10}{'publishers':>12}"
        )
        for run in runs:
            base = raw[run.codec] * FPS
            print(
                f"  {run.codec:<6}{run.sessions:>3}{run.cpu_s / run.window_s:>12.0%} {run.cpu_per_stream_s:>13.4f}"
                f"{base:>8.4f}{run.cpu_per_stream_s / base:>6.2f}x"
                f"{min(run.fps_ratio):>10.1%} /{statistics.mean(run.fps_ratio):>6.1%}"
                f"{run.keyframe_requests:>5}{run.decode_errors:>8}{run.resubscribes:>6}"
                f"{run.edge_cpu_s / run.window_s:>9.0%}{run.bench_cpu_s / run.window_s:>11.0%}"
            )
        print("\n    decoder CPU by thread, per stream-second")
        for run in runs:
            parts = sorted(run.threads.items(), key=lambda kv: -kv[1])
            shown = "  ".join(f"{name} {cpu / (run.sessions * run.window_s):.4f}" for name, cpu in parts if cpu > 0)
            print(f"  {run.codec:<6}x{run.sessions:<3} {shown}")
        print("\n(d) decoder memory: RSS before sessions, peak RSS, peak growth per session")
        for run in runs:
            growth = (run.rss_peak_kib - run.rss_base_kib) / run.sessions / 1024
            print(
                f"  {run.codec:<6}x{run.sessions:<3} base {run.rss_base_kib / 1024:.0f} MiB  "
                f"peak {run.rss_peak_kib / 1024:.0f} MiB  {growth:.1f} MiB/session"
            )
    finally:
        edge.terminate()
        edge.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--vp8", type=int, nargs="*", default=[1, 8, 24])
    parser.add_argument("--h264", type=int, nargs="*", default=[1, 8, 24])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of steady state before each window")
    parser.add_argument("--clip-frames", type=int, default=CLIP_FRAMES, help="frames of the replayed clip")
    args = options(parser, seconds=1.0, vp8=[1], h264=[1], trials=1, warmup=0.5, clip_frames=FPS)
    # The API as `make run` serves it: POST /sessions checks the consumer's pool on a chain, frames go to Redis.
    with scratch_database("lx_bench_decoder"), private_redis(), local_chain() as chain:
        asyncio.run(bench(args, chain))
    print(f"\nfinished at {datetime.now(UTC):%H:%M:%S} UTC")
    return 0


if __name__ == "__main__":
    sys.exit(main())
