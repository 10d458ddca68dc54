"""The frame store: the latest decoded JPEG of each session, in Redis (ElastiCache) or S3, chosen by settings.

The decoder writes one frame about once a second; `GET /sessions/{id}/frame` reads it. A frame carries the time it
was decoded, so readers can tell how fresh it is. Clients are imported on first use (cold start).
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from typing import Any

from luxxon.domain.ports.frames import Frame, FrameStore, FrameStoreUnavailable

_STAMP = struct.Struct(">q")  # decode time in unix microseconds, ahead of the JPEG bytes (Redis)


def _micros(at: datetime) -> int:
    return int(at.timestamp() * 1_000_000)


def _from_micros(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1_000_000, tz=UTC)


class RedisFrameStore:
    def __init__(self, url: str, ttl_s: int = 60, password: str | None = None) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, password=password, socket_timeout=2, socket_connect_timeout=2)
        self._ttl_s = ttl_s

    @staticmethod
    def key(session_id: str) -> str:
        return f"lx:frame:{session_id}"

    def put(self, session_id: str, frame: Frame) -> None:
        self._redis.set(self.key(session_id), _STAMP.pack(_micros(frame.captured_at)) + frame.jpeg, ex=self._ttl_s)

    def get(self, session_id: str) -> Frame | None:
        import redis

        try:
            raw: Any = self._redis.get(self.key(session_id))
        except redis.RedisError as error:
            raise FrameStoreUnavailable(type(error).__name__) from error
        if not raw or len(raw) <= _STAMP.size:
            return None
        (stamp,) = _STAMP.unpack_from(raw)
        return Frame(jpeg=bytes(raw[_STAMP.size :]), captured_at=_from_micros(stamp))

    def delete(self, session_id: str) -> None:
        self._redis.delete(self.key(session_id))


class S3FrameStore:
    """One object per session (`frames/<session id>.jpg`), overwritten in place; a lifecycle rule expires them."""

    def __init__(self, bucket: str, client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("s3")
        self._s3 = client
        self._bucket = bucket

    @staticmethod
    def key(session_id: str) -> str:
        return f"frames/{session_id}.jpg"

    def put(self, session_id: str, frame: Frame) -> None:
        self._s3.put_object(
            Bucket=self._bucket,
            Key=self.key(session_id),
            Body=frame.jpeg,
            ContentType="image/jpeg",
            Metadata={"captured-at-us": str(_micros(frame.captured_at))},
        )

    def get(self, session_id: str) -> Frame | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            obj = self._s3.get_object(Bucket=self._bucket, Key=self.key(session_id))
        except self._s3.exceptions.NoSuchKey:
            return None
        except (BotoCoreError, ClientError) as error:
            raise FrameStoreUnavailable(type(error).__name__) from error
        stamp = int(obj["Metadata"].get("captured-at-us", "0"))
        return Frame(jpeg=obj["Body"].read(), captured_at=_from_micros(stamp))

    def delete(self, session_id: str) -> None:
        self._s3.delete_object(Bucket=self._bucket, Key=self.key(session_id))


def from_settings(
    kind: str, redis_url: str, bucket: str | None, ttl_s: int, redis_password: str | None = None
) -> FrameStore:
    if kind == "s3":
        if not bucket:
            raise ValueError("LX_FRAMES_BUCKET is required when LX_FRAME_STORE=s3")
        return S3FrameStore(bucket)
    if kind == "redis":
        return RedisFrameStore(redis_url, ttl_s, redis_password)
    raise ValueError(f"unknown frame store {kind!r} (redis or s3)")
