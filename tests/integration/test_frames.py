"""The frame store adapters: Redis (real server) and S3 (moto), the same contract."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from luxxon.adapters.frames import RedisFrameStore, S3FrameStore, from_settings
from luxxon.domain.ports.frames import Frame, FrameStore

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) + b"\xff\xd9"


TOKEN = 1_790_000_000_000_000  # a lease token (a claim's time in microseconds)


@pytest.fixture(params=["redis", "s3"])
def stores(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], FrameStore]]:
    """Makes clients of one store, as separate decoder processes have."""
    if request.param == "redis":
        yield lambda: RedisFrameStore(os.environ["LX_REDIS_URL"], ttl_s=30)
        return
    from moto import mock_aws

    for name, value in (
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "x"),
        ("AWS_SECRET_ACCESS_KEY", "x"),
    ):
        monkeypatch.setenv(name, value)
    with mock_aws():
        import boto3

        bucket = f"frames-{uuid.uuid4().hex[:8]}"
        boto3.client("s3").create_bucket(Bucket=bucket)
        yield lambda: S3FrameStore(bucket)


@pytest.fixture
def store(stores: Callable[[], FrameStore]) -> FrameStore:
    return stores()


def test_the_latest_frame_round_trips_with_its_capture_time(store: FrameStore) -> None:
    session_id = str(uuid.uuid4())
    older, newer = datetime(2026, 11, 24, 6, 0, 0, 123_456, tzinfo=UTC), datetime.now(UTC)
    assert store.put(session_id, Frame(b"old", older), TOKEN)
    assert store.put(session_id, Frame(JPEG, newer), TOKEN)
    frame = store.get(session_id)
    assert frame is not None
    assert frame.jpeg == JPEG
    assert abs((frame.captured_at - newer).total_seconds()) < 1e-5


def test_a_session_without_a_frame_has_none_and_delete_forgets_it(store: FrameStore) -> None:
    session_id = str(uuid.uuid4())
    assert store.get(session_id) is None
    store.put(session_id, Frame(JPEG, datetime.now(UTC)), TOKEN)
    store.delete(session_id)
    assert store.get(session_id) is None


# -- fenced writes: the lease token ----------------------------------------------------------------------------


def test_a_write_with_an_older_lease_token_is_refused_and_the_newer_frame_stays(
    stores: Callable[[], FrameStore],
) -> None:
    # Given the old holder's frame, then the new holder's (the same still picture: byte-identical JPEGs)
    old, new = stores(), stores()
    session_id = str(uuid.uuid4())
    at = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert old.put(session_id, Frame(JPEG, at), TOKEN) is True
    assert new.put(session_id, Frame(JPEG, at + timedelta(seconds=1)), TOKEN + 1) is True
    # When the old holder writes again, it is refused and the new holder's frame stays
    assert old.put(session_id, Frame(JPEG, at + timedelta(seconds=2)), TOKEN) is False
    assert (frame := new.get(session_id)) is not None and frame.captured_at == at + timedelta(seconds=1)
    assert frame.jpeg == JPEG
    # And the new holder keeps writing
    assert new.put(session_id, Frame(JPEG, at + timedelta(seconds=3)), TOKEN + 1) is True
    assert (frame := old.get(session_id)) is not None and frame.captured_at == at + timedelta(seconds=3)


@dataclass(frozen=True)
class Write:
    writer: str
    captured_at: datetime
    started: float
    ended: float
    stored: bool


def test_two_writers_racing_one_session_store_only_the_new_holders_frames_once_it_wrote(
    stores: Callable[[], FrameStore],
) -> None:
    # Given the old holder writing without pause, and the new holder starting while it does
    session_id = str(uuid.uuid4())
    writes: list[Write] = []
    old_started, new_done = threading.Event(), threading.Event()
    old_times = datetime(2026, 12, 1, tzinfo=UTC)  # the writers' frames are told apart by their capture times
    new_times = datetime(2026, 12, 2, tzinfo=UTC)

    def write(store: FrameStore, writer: str, token: int, at: datetime) -> None:
        started = time.monotonic()
        stored = store.put(session_id, Frame(JPEG, at), token)
        writes.append(Write(writer, at, started, time.monotonic(), stored))

    def old_holder() -> None:
        store, i = stores(), 0
        while not new_done.is_set() and i < 20_000:
            write(store, "old", TOKEN, old_times + timedelta(microseconds=i))
            old_started.set()
            i += 1
        for j in range(3):  # and after the new holder is done
            write(store, "old", TOKEN, old_times + timedelta(microseconds=i + j))

    def new_holder() -> None:
        store = stores()
        old_started.wait(10)
        for i in range(50):
            write(store, "new", TOKEN + 1, new_times + timedelta(microseconds=i))
        new_done.set()

    threads = [threading.Thread(target=old_holder), threading.Thread(target=new_holder)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # Then every write of the new holder is stored, and none of the old holder's that began after the new one's first
    new_writes = [w for w in writes if w.writer == "new"]
    assert len(new_writes) == 50 and all(w.stored for w in new_writes)
    first_new = min(w.ended for w in new_writes)
    late_old = [w for w in writes if w.writer == "old" and w.started > first_new]
    assert late_old and not any(w.stored for w in late_old)
    # And the store holds the new holder's last frame
    assert (frame := stores().get(session_id)) is not None
    assert frame.captured_at == new_times + timedelta(microseconds=49)


def test_redis_frames_expire_with_their_ttl() -> None:
    store = RedisFrameStore(os.environ["LX_REDIS_URL"], ttl_s=7)
    session_id = str(uuid.uuid4())
    store.put(session_id, Frame(JPEG, datetime.now(UTC)), TOKEN)
    import redis

    assert 0 < redis.Redis.from_url(os.environ["LX_REDIS_URL"]).ttl(RedisFrameStore.key(session_id)) <= 7


def test_settings_choose_the_store() -> None:
    assert isinstance(from_settings("redis", os.environ["LX_REDIS_URL"], None, 60), RedisFrameStore)
    with pytest.raises(ValueError, match="LX_FRAMES_BUCKET"):
        from_settings("s3", "", None, 60)
    with pytest.raises(ValueError, match="unknown frame store"):
        from_settings("disk", "", None, 60)
