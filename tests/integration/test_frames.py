"""The frame store adapters: Redis (real server) and S3 (moto), the same contract."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from luxxon.adapters.frames import RedisFrameStore, S3FrameStore, from_settings
from luxxon.domain.ports.frames import Frame, FrameStore

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) + b"\xff\xd9"


@pytest.fixture(params=["redis", "s3"])
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[FrameStore]:
    if request.param == "redis":
        yield RedisFrameStore(os.environ["LX_REDIS_URL"], ttl_s=30)
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
        yield S3FrameStore(bucket)


def test_the_latest_frame_round_trips_with_its_capture_time(store: FrameStore) -> None:
    session_id = str(uuid.uuid4())
    older, newer = datetime(2026, 11, 24, 6, 0, 0, 123_456, tzinfo=UTC), datetime.now(UTC)
    store.put(session_id, Frame(b"old", older))
    store.put(session_id, Frame(JPEG, newer))
    frame = store.get(session_id)
    assert frame is not None
    assert frame.jpeg == JPEG
    assert abs((frame.captured_at - newer).total_seconds()) < 1e-5


def test_a_session_without_a_frame_has_none_and_delete_forgets_it(store: FrameStore) -> None:
    session_id = str(uuid.uuid4())
    assert store.get(session_id) is None
    store.put(session_id, Frame(JPEG, datetime.now(UTC)))
    store.delete(session_id)
    assert store.get(session_id) is None


def test_redis_frames_expire_with_their_ttl() -> None:
    store = RedisFrameStore(os.environ["LX_REDIS_URL"], ttl_s=7)
    session_id = str(uuid.uuid4())
    store.put(session_id, Frame(JPEG, datetime.now(UTC)))
    import redis

    assert 0 < redis.Redis.from_url(os.environ["LX_REDIS_URL"]).ttl(RedisFrameStore.key(session_id)) <= 7


def test_settings_choose_the_store() -> None:
    assert isinstance(from_settings("redis", os.environ["LX_REDIS_URL"], None, 60), RedisFrameStore)
    with pytest.raises(ValueError, match="LX_FRAMES_BUCKET"):
        from_settings("s3", "", None, 60)
    with pytest.raises(ValueError, match="unknown frame store"):
        from_settings("disk", "", None, 60)
