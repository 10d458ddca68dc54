"""The frame decoder service over real WebRTC on 127.0.0.1: the local edge, real aiortc publishers, the real
database and Redis, and `python -m decoder_container` running as its own processes (as in the container).

Sessions are started through the API; a synthetic camera publishes to the session's WHIP URL on the edge's loop;
what the tests observe is what a user or an operator can: the session through the API, GET /frame, the frame store,
the lease table, and the edge's WHEP subscribers.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
from PIL import Image
from psycopg.rows import dict_row

from decoder_container.config import DecoderConfig
from decoder_container.worker import Worker
from luxxon import wiring
from luxxon.adapters.frames import RedisFrameStore
from luxxon.db.decoder import PgLeaseStore
from luxxon.domain.ports.frames import Frame
from luxxon.local.camera import Codec, Publication, publish
from tests.conftest import WEBHOOK_SECRET, Api, RunningEdge, Workspace, WorkspaceFactory

pytestmark = [pytest.mark.usefixtures("video_env"), pytest.mark.timeout(180)]
T = TypeVar("T")
WIDTH, HEIGHT, FPS = 320, 240, 15  # small: the publisher's encoder shares the two cores with everything else
LEASE_TTL_S = 6.0  # the shipped default
MEDIA_GAP_S = 3.0  # the shipped default: no decodable frame for this long opens the decoder's window
# A generous deadline for what must happen "soon". Tests wait for conditions, never for a fixed time, and assert
# what the timestamps say (a takeover's generation, a window's bounds), not how fast a loaded machine was.
SOON_S = 30.0


POLL_S = 0.1  # at most ~20 API calls a second per key: within the rate-limit budget (25/s per key)


def wait_until(predicate: Callable[[], T], timeout: float = SOON_S, what: str = "", interval_s: float = POLL_S) -> T:
    """Poll `predicate` until it returns something truthy (returned), or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or predicate}")
        time.sleep(interval_s)


# -- fixtures ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def no_other_session_needs_a_decoder(database_url: str) -> None:
    """Sessions other test modules left started would keep these decoders busy: end their video plane."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE sessions SET state = 'EXPIRED', whep_url = NULL, whip_url = NULL"
            " WHERE state IN ('ASSIGNED', 'LIVE', 'PAUSED') AND whep_url IS NOT NULL"
        )
        conn.execute("DELETE FROM decoder_leases")


class Decoders:
    """`python -m decoder_container` processes (supervisor + one worker each), killed at teardown."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, **settings: str) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "LX_DECODER_PROCESSES": "1",
            "LX_DECODER_METRICS_INTERVAL_S": "0",
            "POWERTOOLS_LOG_LEVEL": "INFO",
            **{f"LX_DECODER_{k.upper()}": v for k, v in settings.items()},
        }
        log = open(self.logs / f"decoder-{len(self.running)}.log", "wb")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            [sys.executable, "-m", "decoder_container"], env=env, stdout=log, stderr=log, start_new_session=True
        )
        self.running.append(process)
        wait_until(
            lambda: b"decoder worker started" in Path(log.name).read_bytes(), SOON_S, "the decoder worker to start"
        )
        return process

    def log(self, index: int) -> bytes:
        return (self.logs / f"decoder-{index}.log").read_bytes()

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """SIGKILL the supervisor and its worker at once: nothing is released, as when a task dies."""
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def worker_pids(self, process: subprocess.Popen[bytes]) -> set[int]:
        out = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True, check=False)
        return {int(p) for p in out.stdout.split()}

    def close(self) -> None:
        for process in self.running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.running:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)


@pytest.fixture
def decoders(tmp_path: Path) -> Iterator[Decoders]:
    running = Decoders(tmp_path)
    yield running
    running.close()


class Stack:
    """The API, the edge and a camera, as the two parties of a session use them."""

    def __init__(self, api: Api, edge: RunningEdge, consumer: Workspace, operator: Workspace, database_url: str):
        self.api, self.edge, self.consumer, self.operator = api, edge, consumer, operator
        self.db = psycopg.connect(database_url, autocommit=True)
        self.cameras: list[Publication] = []
        self.started: list[str] = []

    # sessions
    def start_session(self) -> dict[str, Any]:
        api, consumer, operator = self.api, self.consumer, self.operator
        session_id = api("POST", "/api/v1/sessions", consumer.key, {"lat": 1, "lng": 2}).data["id"]
        assert api("POST", f"/api/v1/sessions/{session_id}/accept", operator.key).status == 200
        reply = api("POST", f"/api/v1/sessions/{session_id}/start", operator.key)
        assert reply.status == 200, reply.body
        self.started.append(session_id)
        return reply.data

    def session(self, session_id: str) -> dict[str, Any]:
        return self.api("GET", f"/api/v1/sessions/{session_id}", self.consumer.key).data

    def frame(self, session_id: str) -> Any:
        return self.api("GET", f"/api/v1/sessions/{session_id}/frame", self.consumer.key)

    def stored_frame_at(self, session_id: str) -> datetime | None:
        frame = RedisFrameStore(os.environ["LX_REDIS_URL"]).get(session_id)
        return None if frame is None else frame.captured_at

    def lease_expired(self, session_id: str) -> bool:
        row = self.db.execute(
            "SELECT expires_at <= clock_timestamp() FROM decoder_leases WHERE session_id = %s", (session_id,)
        ).fetchone()
        return row is not None and bool(row[0])

    def windows(self, session_id: str, source: str) -> list[tuple[datetime, datetime | None]]:
        """The session's NETWORK_ERROR windows from one source, oldest first."""
        rows = self.db.execute(
            "SELECT opened_at, closed_at FROM disconnect_windows WHERE session_id = %s AND reason = 'NETWORK_ERROR'"
            " AND source = %s ORDER BY opened_at",
            (session_id, source),
        )
        return [(o, c) for o, c in rows.fetchall()]

    def lease(self, session_id: str) -> tuple[str, int] | None:
        row = self.db.execute(
            "SELECT owner, generation FROM decoder_leases WHERE session_id = %s", (session_id,)
        ).fetchone()
        return None if row is None else (row[0], row[1])

    # video
    def on_edge(self, coro: Any, timeout_s: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.edge.loop).result(timeout_s)

    def publish(self, session: dict[str, Any], codec: Codec = "VP8") -> Publication:
        camera = self.on_edge(publish(session["whipUrl"], WIDTH, HEIGHT, FPS, codec))
        self.cameras.append(camera)
        return camera

    def unpublish(self, camera: Publication) -> None:
        self.on_edge(camera.close())
        self.cameras.remove(camera)

    def viewers(self, session: dict[str, Any]) -> int:
        async def count() -> int:
            record = self.edge.edge._inputs.get(session["videoBackendRef"])
            return 0 if record is None else len(record.channel.subscribers)

        return int(self.on_edge(count()))

    def close(self) -> None:
        for camera in list(self.cameras):
            self.unpublish(camera)
        for session_id in self.started:  # leave nothing that needs a decoder for the next test
            if self.session(session_id)["state"] == "LIVE":
                self.api("POST", f"/api/v1/sessions/{session_id}/end", self.consumer.key)
            else:
                self.api("DELETE", f"/api/v1/sessions/{session_id}", self.consumer.key)
        self.db.close()


@pytest.fixture
def stack(api: Api, video_env: RunningEdge, workspace: WorkspaceFactory, database_url: str) -> Iterator[Stack]:
    running = Stack(api, video_env, workspace("CONSUMER"), workspace("SUPPLIER"), database_url)
    yield running
    running.close()


def jpeg_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        image.load()  # decodes the whole picture: a truncated JPEG fails here
        return image.size


def captured_at(reply: Any) -> datetime:
    return datetime.fromisoformat(reply.headers["x-frame-captured-at"])


# -- leases (the SQL alone) --------------------------------------------------------------------------------------


def owners() -> Callable[[str], str]:
    """Lease owner names unique to one test (leases of earlier tests' sessions may still exist)."""
    run = uuid.uuid4().hex[:8]
    return lambda name: f"{name}:{run}"


class TestLeases:
    """PgLeaseStore against the real database: what several decoder processes rely on."""

    def test_a_claim_takes_at_most_the_limit_and_only_sessions_that_need_a_decoder(self, stack: Stack) -> None:
        store, owner = PgLeaseStore(), owners()
        started = {stack.start_session()["id"] for _ in range(3)}
        not_started = stack.api("POST", "/api/v1/sessions", stack.consumer.key, {"lat": 1, "lng": 2}).data["id"]
        first = store.claim(owner("a"), limit=2, ttl_s=30)
        rest = store.claim(owner("b"), limit=5, ttl_s=30)
        assert len(first) == 2 and len(rest) == 1
        assert {lease.session_id for lease in first + rest} == started
        assert not_started not in {lease.session_id for lease in first + rest}
        assert all(lease.state == "ASSIGNED" and lease.whep_url and lease.generation == 1 for lease in first)
        assert store.claim(owner("c"), limit=5, ttl_s=30) == []  # nothing unleased is left

    def test_an_expired_lease_is_taken_over_with_the_next_generation(self, stack: Stack) -> None:
        store, owner = PgLeaseStore(), owners()
        session_id = stack.start_session()["id"]
        assert [lease.session_id for lease in store.claim(owner("a"), 1, ttl_s=3)] == [session_id]
        assert store.claim(owner("b"), 1, ttl_s=30) == []  # still held by a
        wait_until(lambda: stack.lease_expired(session_id), SOON_S, "a's lease to expire (database clock)")
        (taken,) = store.claim(owner("b"), 1, ttl_s=30)
        assert (taken.session_id, taken.generation) == (session_id, 2)
        # a's renewal no longer sees it: a must stop decoding it
        assert store.renew(owner("a"), [session_id], ttl_s=30) == []

    def test_every_claim_of_a_session_has_a_larger_token_even_after_a_release(self, stack: Stack) -> None:
        # The frame store fences writes with the token: a later holder must always have the larger one
        store, owner = PgLeaseStore(), owners()
        session_id = stack.start_session()["id"]
        (first,) = store.claim(owner("a"), 1, ttl_s=0.5)
        wait_until(lambda: stack.lease_expired(session_id), SOON_S, "a's lease to expire (database clock)")
        (taken,) = store.claim(owner("b"), 1, ttl_s=30)
        assert store.release(owner("b"), [session_id]) == 1
        (again,) = store.claim(owner("c"), 1, ttl_s=30)
        assert [lease.session_id for lease in (first, taken, again)] == [session_id] * 3
        assert [lease.generation for lease in (first, taken, again)] == [1, 2, 1]  # starts over after a release
        assert first.token < taken.token < again.token  # never does

    def test_a_decoder_that_lost_its_lease_records_no_media_gap(self, stack: Stack) -> None:
        # Given a LIVE session whose lease a held, then lost to b (a paused past its lease)
        store, owner, windows = PgLeaseStore(), owners(), wiring.windows()
        session_id = stack.start_session()["id"]
        assert [lease.session_id for lease in store.claim(owner("a"), 1, ttl_s=0.5)] == [session_id]
        wiring.sessions().go_live(session_id, datetime.now(UTC))
        wait_until(lambda: stack.lease_expired(session_id), SOON_S, "a's lease to expire (database clock)")
        last_frame = datetime.now(UTC)
        # When a, resuming, records the gap since its last frame: nothing is written (nobody would close that window,
        # and the meter would not charge a second of it)
        assert not windows.media_stalled(session_id, last_frame, owner("a"))
        (taken,) = store.claim(owner("b"), 1, ttl_s=30)
        assert taken.session_id == session_id
        assert not windows.media_stalled(session_id, last_frame, owner("a"))
        # Then only the holder opens and closes the decoder's window
        assert windows.media_stalled(session_id, last_frame, owner("b"))
        assert not windows.media_resumed(session_id, last_frame + timedelta(seconds=2), owner("a"))
        assert windows.media_resumed(session_id, last_frame + timedelta(seconds=2), owner("b"))

    def test_a_renewal_extends_what_is_decoded_and_releases_what_ended(self, stack: Stack) -> None:
        store, owner = PgLeaseStore(), owners()
        live, ended, dropped = (stack.start_session()["id"] for _ in range(3))
        store.claim(owner("a"), 3, ttl_s=30)
        stack.api("DELETE", f"/api/v1/sessions/{ended}", stack.consumer.key)
        statuses = {s.session_id: s for s in store.renew(owner("a"), [live, ended], ttl_s=30)}
        assert statuses[live].renewed and statuses[live].state == "ASSIGNED"
        assert not statuses[ended].renewed and statuses[ended].state == "CANCELLED"
        assert not statuses[dropped].renewed  # no longer decoded by a: handed back
        assert stack.lease(live) is not None and stack.lease(ended) is None and stack.lease(dropped) is None
        assert [lease.session_id for lease in store.claim(owner("b"), 5, ttl_s=30)] == [dropped]

    def test_the_backlog_counts_sessions_waiting_for_a_decoder(self, stack: Stack) -> None:
        store, owner = PgLeaseStore(), owners()
        before = store.backlog()
        stack.start_session()
        assert store.backlog() == before + 1
        store.claim(owner("a"), 5, ttl_s=30)
        assert store.backlog() == 0


# -- first frame, LIVE, GET /frame ------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["VP8", "H264"])
def test_the_session_turns_live_only_once_its_first_frame_is_readable(
    stack: Stack, decoders: Decoders, codec: Codec
) -> None:
    # Given a running decoder and a started session
    decoders.start()
    session = stack.start_session()
    wait_until(lambda: stack.lease(session["id"]), SOON_S, "the decoder to claim the session")
    # When the operator publishes
    published_at = datetime.now(UTC)
    stack.publish(session, codec)
    # Then, polled all through the warm-up, the session is never LIVE without a readable frame
    deadline = time.monotonic() + SOON_S
    while True:
        state = stack.session(session["id"])
        frame = stack.frame(session["id"])
        if state["state"] == "LIVE":
            break
        assert state["state"] == "ASSIGNED"
        assert frame.status in (200, 404)
        assert time.monotonic() < deadline, "never LIVE"
        time.sleep(POLL_S)
    assert frame.status == 200, "LIVE without a readable frame"
    # And startedAt is the first frame's decode time: after the publisher connected, not before
    started_at = datetime.fromisoformat(state["startedAt"].replace("Z", "+00:00"))
    assert published_at <= started_at <= datetime.now(UTC)
    assert started_at <= captured_at(frame)


@pytest.mark.parametrize("codec", ["VP8", "H264"])
def test_the_frame_is_a_jpeg_of_the_published_size_that_changes_over_time(
    stack: Stack, decoders: Decoders, codec: Codec
) -> None:
    decoders.start()
    session = stack.start_session()
    stack.publish(session, codec)
    first = wait_until(lambda: (r := stack.frame(session["id"])).status == 200 and r, SOON_S, "a frame")
    assert jpeg_size(first.raw_bytes) == (WIDTH, HEIGHT)
    # about once a second the decoder stores a newer frame (the camera's picture moves every frame)
    later = wait_until(
        lambda: (r := stack.frame(session["id"])).status == 200 and captured_at(r) > captured_at(first) and r,
        SOON_S,
        "a newer frame",
    )
    assert later.raw_bytes != first.raw_bytes
    assert jpeg_size(later.raw_bytes) == (WIDTH, HEIGHT)
    # and the stored frame keeps up with the camera: one decoded less than two seconds ago shows up
    wait_until(
        lambda: (datetime.now(UTC) - captured_at(stack.frame(session["id"]))).total_seconds() < 2.0,
        SOON_S,
        "a frame less than 2 s old",
    )


# -- recovery ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stall_timeout_s", "resubscribes"),
    [("60", False), ("0.5", True)],
    ids=["within-the-stall-timeout", "after-the-decoder-resubscribed"],
)
def test_frames_resume_after_the_publisher_drops_and_reconnects(
    stack: Stack, decoders: Decoders, stall_timeout_s: str, resubscribes: bool
) -> None:
    decoders.start(stall_timeout_s=stall_timeout_s)
    session = stack.start_session()
    camera = stack.publish(session)
    wait_until(lambda: stack.session(session["id"])["state"] == "LIVE", SOON_S, "LIVE")
    # When the publisher drops
    stack.unpublish(camera)
    # Then the decoder notices (its media-gap window opens at the last decoded frame)...
    (opened_at, _), *_ = wait_until(lambda: stack.windows(session["id"], "decoder"), SOON_S, "the decoder's window")
    if resubscribes:
        wait_until(lambda: b"media stalled" in decoders.log(0), SOON_S, "the decoder to resubscribe")
    # ...no newer frame than that last one is stored, yet it stays readable and the session stays LIVE
    stalled = stack.frame(session["id"])
    assert stalled.status == 200 and captured_at(stalled) <= opened_at
    assert stack.session(session["id"])["state"] == "LIVE"
    assert (b"media stalled" in decoders.log(0)) is resubscribes
    # When it publishes again (same WHIP URL), frames flow again
    stack.publish(session)
    reconnected_at = datetime.now(UTC)
    wait_until(
        lambda: (at := stack.stored_frame_at(session["id"])) is not None and at > reconnected_at,
        SOON_S,
        "a frame from the new publication",
    )
    assert jpeg_size(stack.frame(session["id"]).raw_bytes) == (WIDTH, HEIGHT)


def test_a_killed_decoders_session_is_taken_over_within_seconds(stack: Stack, decoders: Decoders) -> None:
    # Given decoder A decodes a LIVE session and decoder B idles
    a = decoders.start()
    session = stack.start_session()
    stack.publish(session)
    wait_until(lambda: stack.session(session["id"])["state"] == "LIVE", SOON_S, "LIVE")
    owner_a, generation = wait_until(lambda: stack.lease(session["id"]), SOON_S, "a lease")
    assert int(owner_a.split(":")[1]) in decoders.worker_pids(a)
    decoders.start()
    # When A dies without releasing anything
    decoders.kill(a)
    killed_at = datetime.now(UTC)
    # Then B takes the expired lease over (the next generation) and fresh frames are stored again
    owner_b, taken_generation = wait_until(
        lambda: (lease := stack.lease(session["id"])) and lease[0] != owner_a and lease,
        SOON_S,
        "another decoder to claim the session",
    )
    wait_until(
        lambda: (at := stack.stored_frame_at(session["id"])) is not None and at > killed_at,
        SOON_S,
        "frames from the new decoder",
    )
    assert taken_generation == generation + 1
    assert stack.session(session["id"])["state"] == "LIVE"
    assert int(owner_b.split(":")[1]) not in decoders.worker_pids(a)


def test_a_worker_that_dies_is_restarted_by_its_supervisor_and_resumes_its_session(
    stack: Stack, decoders: Decoders
) -> None:
    task = decoders.start(lease_ttl_s="3", renew_interval_s="1")
    session = stack.start_session()
    stack.publish(session)
    wait_until(lambda: stack.session(session["id"])["state"] == "LIVE", SOON_S, "LIVE")
    (worker,) = decoders.worker_pids(task)
    # When the worker process dies (the task's supervisor lives on)
    os.kill(worker, signal.SIGKILL)
    died_at = datetime.now(UTC)
    # Then a new worker takes over and stores fresh frames
    (restarted,) = wait_until(lambda: (pids := decoders.worker_pids(task)) - {worker} and pids, SOON_S, "a new worker")
    wait_until(
        lambda: (lease := stack.lease(session["id"])) and int(lease[0].split(":")[1]) == restarted,
        SOON_S,
        "the new worker to claim the session",
    )
    wait_until(
        lambda: (at := stack.stored_frame_at(session["id"])) is not None and at > died_at, SOON_S, "fresh frames"
    )


def test_on_sigterm_a_decoder_hands_its_sessions_back_at_once(stack: Stack, decoders: Decoders) -> None:
    a = decoders.start()
    session = stack.start_session()
    owner_a, _ = wait_until(lambda: stack.lease(session["id"]), SOON_S, "a lease")
    decoders.start()
    # When A is asked to stop (a deployment, a scale-in)
    a.send_signal(signal.SIGTERM)
    # Then B holds the session with a fresh lease (generation 1): A released it, B did not wait for it to expire
    # (taking an expired lease over is generation 2)
    owner_b, generation = wait_until(
        lambda: (lease := stack.lease(session["id"])) and lease[0] != owner_a and lease, SOON_S, "B to claim it"
    )
    assert generation == 1
    assert a.wait(SOON_S) == 0


def test_aiortcs_own_decoding_path_works_too(stack: Stack, decoders: Decoders) -> None:
    # decode="track": aiortc's decoder thread and track.recv(), the fallback should aiortc rename what we tap
    decoders.start(decode="track")
    session = stack.start_session()
    stack.publish(session)
    wait_until(lambda: stack.session(session["id"])["state"] == "LIVE", SOON_S, "LIVE")
    first = stack.frame(session["id"])
    assert jpeg_size(first.raw_bytes) == (WIDTH, HEIGHT)
    wait_until(
        lambda: (at := stack.stored_frame_at(session["id"])) is not None and at > captured_at(first),
        SOON_S,
        "newer frame",
    )


def test_the_supervisor_publishes_the_decoder_backlog(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    from decoder_container.supervisor import publish_backlog

    stack.start_session()  # no decoder runs: it waits
    publish_backlog()
    (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines() if "DecoderBacklog" in x]
    assert line["DecoderBacklog"] == [float(PgLeaseStore().backlog())] and line["DecoderBacklog"] != [0.0]
    assert line["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [{"Name": "DecoderBacklog", "Unit": "Count"}]


def test_two_decoders_never_decode_the_same_session_at_once(stack: Stack, decoders: Decoders) -> None:
    decoders.start(claim_batch="1")
    decoders.start(claim_batch="1")
    sessions = [stack.start_session() for _ in range(4)]
    owners = wait_until(
        lambda: all(stack.lease(s["id"]) for s in sessions) and {s["id"]: stack.lease(s["id"]) for s in sessions},
        SOON_S,
        "every session to be claimed",
    )
    wait_until(lambda: all(stack.viewers(s) == 1 for s in sessions), SOON_S, "every session to be subscribed")
    # every session is held by exactly one decoder (one lease row, one owner) and watched by one subscriber, all
    # along an observation period of two renewals
    deadline = time.monotonic() + 4.0
    while time.monotonic() < deadline:
        for s in sessions:
            assert stack.lease(s["id"]) == owners[s["id"]]
            assert stack.viewers(s) <= 1
        time.sleep(0.2)
    assert all(stack.viewers(s) == 1 for s in sessions)


class CutOff:
    """A lease store on a private connection whose database can be cut off (every call fails, as on a partition)."""

    def __init__(self, database_url: str) -> None:
        self.conn = psycopg.connect(database_url, autocommit=True, row_factory=dict_row)
        self.store = PgLeaseStore(lambda: self.conn)
        self.cut = False

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.store, name)

        def call(*args: Any) -> Any:
            if self.cut:
                raise psycopg.OperationalError("the database is unreachable")
            return method(*args)

        return call


def test_a_decoder_cut_off_from_the_database_stops_before_its_lease_can_lapse(stack: Stack, database_url: str) -> None:
    # Given a decoder (in this process, with a lease store we can cut off) watching a session
    session = stack.start_session()
    leases = CutOff(database_url)
    config = DecoderConfig(lease_ttl_s=4, renew_interval_s=1, claim_interval_s=0.2)
    worker = Worker(config, leases=leases, frames=RedisFrameStore(os.environ["LX_REDIS_URL"]), go_live=lambda *_: None)
    with running(worker):
        try:
            wait_until(lambda: stack.viewers(session) == 1, SOON_S, "the decoder to subscribe")
            # When its database goes away, it stops decoding on its own...
            leases.cut = True
            wait_until(lambda: not worker.sessions, SOON_S, "the decoder to stop the session")
            # ...while its lease is still valid, so no other decoder can have claimed the session yet
            row = stack.db.execute(
                "SELECT expires_at > clock_timestamp() FROM decoder_leases WHERE session_id = %s", (session["id"],)
            ).fetchone()
            assert row == (True,)
            wait_until(lambda: stack.viewers(session) == 0, SOON_S, "the subscription to end")
        finally:
            leases.cut = False  # so that it can release its leases on the way out
    leases.conn.close()


@contextlib.contextmanager
def running(worker: Worker) -> Iterator[Worker]:
    """Run a decoder worker in this process, on an event loop of its own; stop it (it releases its leases) after."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    stop = asyncio.run_coroutine_threadsafe(_event(), loop).result(5)
    run = asyncio.run_coroutine_threadsafe(worker.run(stop), loop)
    try:
        yield worker
    finally:
        loop.call_soon_threadsafe(stop.set)
        run.result(15)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


async def _event() -> asyncio.Event:
    return asyncio.Event()


def private_leases(database_url: str) -> PgLeaseStore:
    """A lease store on a connection of its own (a decoder process has its own; this test process shares one)."""
    conn = psycopg.connect(database_url, autocommit=True, row_factory=dict_row)
    return PgLeaseStore(lambda: conn)


@dataclass(frozen=True)
class Write:
    writer: str
    captured_at: datetime
    started: float  # monotonic
    ended: float
    stored: bool
    state: str  # the session's state in the database right after the store answered


class Recorded:
    """A frame store as one decoder process sees it, recording every write it makes: when, which frame, whether the
    store kept it, and the session's state in the database the moment the store had answered."""

    def __init__(self, writer: str, writes: list[Write], database_url: str) -> None:
        self.writer, self.writes = writer, writes
        self.store = RedisFrameStore(os.environ["LX_REDIS_URL"])
        self.db = psycopg.connect(database_url, autocommit=True)

    def put(self, session_id: str, frame: Frame, token: int) -> bool:
        started = time.monotonic()
        stored = self.store.put(session_id, frame, token)
        ended = time.monotonic()
        row = self.db.execute("SELECT state FROM sessions WHERE id = %s", (session_id,)).fetchone()
        assert row is not None
        self.writes.append(Write(self.writer, frame.captured_at, started, ended, stored is not False, row[0]))
        return stored

    def get(self, session_id: str) -> Frame | None:
        return self.store.get(session_id)

    def delete(self, session_id: str) -> None:
        self.store.delete(session_id)


def session_state(stack: Stack, session_id: str) -> tuple[str, datetime | None]:
    row = stack.db.execute("SELECT state, started_at FROM sessions WHERE id = %s", (session_id,)).fetchone()
    assert row is not None
    return row[0], row[1]


def test_the_first_jpeg_is_stored_before_the_session_turns_live(stack: Stack, database_url: str) -> None:
    # Given a decoder whose frame store notes the session's state as each write completes
    session = stack.start_session()
    writes: list[Write] = []
    frames = Recorded("decoder", writes, database_url)
    config = DecoderConfig(claim_interval_s=0.2)
    worker = Worker(config, leases=private_leases(database_url), frames=frames, go_live=wiring.sessions().go_live)
    with running(worker):
        wait_until(lambda: stack.viewers(session) == 1, SOON_S, "the decoder to subscribe")
        # When the operator publishes and the session turns LIVE
        stack.publish(session)
        wait_until(lambda: writes and session_state(stack, session["id"])[0] == "LIVE", SOON_S, "LIVE and a frame")
    # Then its first frame was stored while the session was still ASSIGNED: the JPEG first, LIVE after
    first = writes[0]
    assert (first.stored, first.state) == (True, "ASSIGNED")
    # And LIVE is stamped with that frame's decode time
    assert session_state(stack, session["id"])[1] == first.captured_at


def test_a_decoder_whose_lease_was_taken_over_has_its_frames_refused_and_stops_the_session(
    stack: Stack, database_url: str
) -> None:
    # Given decoder A decoding a LIVE session, with a lease it would renew only in an hour (and no room for more)
    session = stack.start_session()
    writes: list[Write] = []
    quiet = DecoderConfig(lease_ttl_s=7200, renew_interval_s=3600, claim_interval_s=0.2, max_sessions=1)
    a = Worker(
        quiet,
        leases=private_leases(database_url),
        frames=Recorded("A", writes, database_url),
        go_live=wiring.sessions().go_live,
    )
    with running(a):
        stack.publish(session)
        wait_until(lambda: session_state(stack, session["id"])[0] == "LIVE", SOON_S, "LIVE")
        # When its lease lapses without A noticing (a long pause, a partition) and decoder B takes the session over
        lapse = "UPDATE decoder_leases SET expires_at = clock_timestamp() WHERE session_id = %s"
        stack.db.execute(lapse, (session["id"],))
        b = Worker(
            DecoderConfig(claim_interval_s=0.2),
            leases=private_leases(database_url),
            frames=Recorded("B", writes, database_url),
            go_live=wiring.sessions().go_live,
        )
        with running(b):
            wait_until(lambda: b.sessions, SOON_S, "B to claim the session")
            wait_until(lambda: sum(w.writer == "B" and w.stored for w in writes) >= 3, SOON_S, "frames from B")
            # Then A's next write was refused and A stopped the session (its renewal was an hour away)...
            wait_until(lambda: not a.sessions, SOON_S, "A to stop the session")
            wait_until(lambda: stack.viewers(session) == 1, SOON_S, "A to unsubscribe")
            assert list(b.sessions) == [session["id"]]
            assert any(w.writer == "A" and not w.stored for w in writes)
            # ...and no frame of A was stored once B had stored one: the store shows B's frames only
            first_b = min(w.ended for w in writes if w.writer == "B" and w.stored)
            assert not any(w.stored for w in writes if w.writer == "A" and w.started > first_b)
            shown = stack.stored_frame_at(session["id"])
            wait_until(lambda: any(w.captured_at == shown for w in writes), 5, "the shown frame's write to be noted")
            assert [w.writer for w in writes if w.captured_at == shown and w.stored] == ["B"]


# -- stop and release -------------------------------------------------------------------------------------------


def test_the_decoder_stops_and_releases_the_lease_when_the_session_ends(stack: Stack, decoders: Decoders) -> None:
    decoders.start()
    session = stack.start_session()
    stack.publish(session)
    wait_until(lambda: stack.session(session["id"])["state"] == "LIVE", SOON_S, "LIVE")
    # When a party ends the session
    assert stack.api("POST", f"/api/v1/sessions/{session['id']}/end", stack.consumer.key).data["state"] == "ENDED"
    # Then the lease is released, the decoder unsubscribes, and no frame decoded after that is ever stored
    wait_until(lambda: stack.lease(session["id"]) is None, SOON_S, "the lease to be released")
    wait_until(lambda: stack.viewers(session) == 0, SOON_S, "the decoder to unsubscribe")
    unsubscribed_at = datetime.now(UTC)
    last = stack.stored_frame_at(session["id"])
    assert last is not None and last < unsubscribed_at
    assert stack.frame(session["id"]).error == ("FRAME_NOT_AVAILABLE", "frame:ENDED")


def test_the_decoder_releases_the_lease_when_the_session_is_cancelled_before_live(
    stack: Stack, decoders: Decoders
) -> None:
    decoders.start()
    session = stack.start_session()
    wait_until(lambda: stack.lease(session["id"]), SOON_S, "the decoder to claim the session")
    wait_until(lambda: stack.viewers(session) == 1, SOON_S, "the decoder to subscribe")
    reply = stack.api("DELETE", f"/api/v1/sessions/{session['id']}", stack.consumer.key)
    assert reply.data["state"] == "CANCELLED"
    wait_until(lambda: stack.lease(session["id"]) is None, SOON_S, "the lease to be released")


# -- the decoder's NETWORK_ERROR windows ---------------------------------------------------------------------------


CLEAN = timedelta(seconds=3)  # media flowing after a window, so that the session bills some clean seconds


def freeze(stack: Stack, camera: Publication) -> datetime:
    """The camera stops producing frames; its peer connection stays up (no BYE, no DELETE). Returns when."""

    async def stop() -> None:
        camera.camera.stop()

    stack.on_edge(stop())
    return datetime.now(UTC)


def edge_event(session: dict[str, Any], event: str, at: datetime) -> str:
    """A Stream Live notification for the session's live input, delivered as the webhook handler delivers it."""
    stamp = f"{at:%Y-%m-%dT%H:%M:%S}.{at.microsecond:06d}000Z"
    body = {
        "name": "live inputs",
        "text": "",
        "data": {
            "notification_name": "Stream Live Input",
            "input_id": session["videoBackendRef"],
            "event_type": event,
            "updated_at": stamp,
        },
        "ts": int(at.timestamp()),
    }
    ack = wiring.webhooks().receive({"cf-webhook-auth": WEBHOOK_SECRET}, json.dumps(body).encode())
    return ack.effect


def union_seconds(windows: list[tuple[datetime, datetime]], start: datetime, end: datetime) -> float:
    """Length of the union of the windows clipped to [start, end] (written out independently of the meter)."""
    total, reach = 0.0, start
    for opened, closed in sorted((max(o, start), min(c, end)) for o, c in windows):
        if closed > reach:
            total += (closed - max(opened, reach)).total_seconds()
            reach = closed
    return total


def ended(stack: Stack, session_id: str) -> tuple[int, datetime, datetime]:
    """End the session: (cleanSeconds, startedAt, endedAt) with the database's exact timestamps."""
    reply = stack.api("POST", f"/api/v1/sessions/{session_id}/end", stack.consumer.key)
    assert reply.status == 200, reply.body
    started_at, ended_at = stack.db.execute(
        "SELECT started_at, ended_at FROM sessions WHERE id = %s", (session_id,)
    ).fetchone()
    return reply.data["cleanSeconds"], started_at, ended_at


def test_when_media_stops_the_decoder_opens_a_window_at_the_last_frame_and_closes_it_at_the_first_new_one(
    stack: Stack, decoders: Decoders
) -> None:
    # Given a LIVE session whose decoder stores frames
    decoders.start()
    session = stack.start_session()
    camera = stack.publish(session)
    wait_until(lambda: stack.session(session["id"])["state"] == "LIVE", SOON_S, "LIVE")
    wait_until(lambda: stack.stored_frame_at(session["id"]), SOON_S, "a stored frame")
    assert stack.windows(session["id"], "decoder") == []
    # When the publisher stops sending frames (its connection stays up)
    frozen_at = freeze(stack, camera)
    # Then, once nothing decoded for the gap, the decoder's window opens at the last decoded frame
    [(opened_at, closed_at)] = wait_until(lambda: stack.windows(session["id"], "decoder"), SOON_S, "the window")
    noticed_at = datetime.now(UTC)
    assert closed_at is None
    last_stored = stack.stored_frame_at(session["id"])
    assert last_stored is not None and last_stored <= opened_at  # no frame was decoded after it
    assert opened_at <= noticed_at - timedelta(seconds=MEDIA_GAP_S)  # opened only after a full gap
    assert stack.windows(session["id"], "edge") == []  # the edge's windows are the edge's
    # When frames come again (the phone publishes anew)
    stack.unpublish(camera)
    republished_at = datetime.now(UTC)
    stack.publish(session)
    # Then the window closes at the first new frame: a frame of the new publication
    [(opened_again, closed_at)] = wait_until(
        lambda: (w := stack.windows(session["id"], "decoder")) and w[0][1] is not None and w, SOON_S, "the close"
    )
    assert opened_again == opened_at and republished_at < closed_at <= datetime.now(UTC)
    # And, a few clean seconds later, the meter subtracts exactly that window
    wait_until(lambda: (at := stack.stored_frame_at(session["id"])) and at > closed_at + CLEAN, SOON_S, "frames")
    clean, started_at, ended_at = ended(stack, session["id"])
    wall = math.floor((ended_at - started_at).total_seconds())
    assert clean == wall - math.ceil(union_seconds([(opened_at, closed_at)], started_at, ended_at)) > 0
    assert frozen_at > started_at


def test_the_edge_and_the_decoder_keep_their_own_windows_and_the_meter_counts_their_union(
    stack: Stack, decoders: Decoders
) -> None:
    # Given a LIVE session
    decoders.start()
    session = stack.start_session()
    camera = stack.publish(session)
    wait_until(lambda: stack.session(session["id"])["state"] == "LIVE", SOON_S, "LIVE")
    wait_until(lambda: stack.stored_frame_at(session["id"]), SOON_S, "a stored frame")
    # When the edge reports the input disconnected, and the decoder then sees media stop
    edge_down = datetime.now(UTC)
    assert edge_event(session, "live_input.disconnected", edge_down) == "windowOpened"
    freeze(stack, camera)
    [(decoder_opened, _)] = wait_until(lambda: stack.windows(session["id"], "decoder"), SOON_S, "the decoder window")
    # ...and the edge reports it connected again while the decoder still decodes nothing
    edge_up = datetime.now(UTC)
    assert edge_event(session, "live_input.connected", edge_up) == "windowClosed"
    # Then the edge's connect closed only the edge's window
    assert stack.windows(session["id"], "edge") == [(edge_down, edge_up)]
    assert stack.windows(session["id"], "decoder") == [(decoder_opened, None)]
    # When frames resume, the decoder closes its own window and leaves the edge's alone
    stack.unpublish(camera)
    stack.publish(session)
    [(_, decoder_closed)] = wait_until(
        lambda: (w := stack.windows(session["id"], "decoder")) and w[0][1] is not None and w, SOON_S, "the close"
    )
    assert stack.windows(session["id"], "edge") == [(edge_down, edge_up)]
    # And, a few clean seconds later, the meter subtracts the union of both sources' windows, overlap counted once
    wait_until(lambda: (at := stack.stored_frame_at(session["id"])) and at > decoder_closed + CLEAN, SOON_S, "frames")
    clean, started_at, ended_at = ended(stack, session["id"])
    windows = [(edge_down, edge_up), (decoder_opened, decoder_closed)]
    wall = math.floor((ended_at - started_at).total_seconds())
    assert clean == wall - math.ceil(union_seconds(windows, started_at, ended_at)) > 0
    assert union_seconds(windows, started_at, ended_at) < sum((c - o).total_seconds() for o, c in windows)
