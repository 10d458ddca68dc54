"""The frame store: the latest decoded JPEG of each session, in Redis (ElastiCache) or S3, chosen by settings.

The decoder writes one frame about once a second; `GET /sessions/{id}/frame` reads it. A frame carries the time it
was decoded, so readers can tell how fresh it is, and the lease token of the decoder that wrote it: a write is one
round trip that the store refuses, atomically, when the stored frame has a higher token (the session was claimed
again since the writer's claim). Clients are imported on first use (cold start).
"""

from __future__ import annotations

import struct
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from luxxon.domain.ports.frames import Frame, FrameStore, FrameStoreUnavailable

_HEADER = struct.Struct(">qq")  # decode time (unix microseconds) and lease token, ahead of the JPEG bytes (Redis)

# KEYS[1] the frame; ARGV: the writer's token, the value, the TTL. The stored token sits at bytes 8..15 of the value.
# A value written before tokens existed (or anything shorter) holds none and is overwritten.
_FENCED_SET = """
local held = redis.call('GETRANGE', KEYS[1], 8, 15)
if string.len(held) == 8 and struct.unpack('>i8', held) > tonumber(ARGV[1]) then
    return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _micros(at: datetime) -> int:
    return (at - _EPOCH) // _MICROSECOND  # exact (a float timestamp can lose the last microsecond)


def _from_micros(value: int) -> datetime:
    return _EPOCH + value * _MICROSECOND


class RedisFrameStore:
    def __init__(self, url: str, ttl_s: int = 60, password: str | None = None) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, password=password, socket_timeout=2, socket_connect_timeout=2)
        self._fenced_set = self._redis.register_script(_FENCED_SET)  # EVALSHA: one round trip once loaded
        self._ttl_s = ttl_s

    @staticmethod
    def key(session_id: str) -> str:
        return f"lx:frame:{session_id}"

    def put(self, session_id: str, frame: Frame, token: int) -> bool:
        import redis

        value = _HEADER.pack(_micros(frame.captured_at), token) + frame.jpeg
        try:
            stored = self._fenced_set(keys=[self.key(session_id)], args=[token, value, self._ttl_s])
        except redis.RedisError as error:
            raise FrameStoreUnavailable(type(error).__name__) from error
        return bool(stored)

    def get(self, session_id: str) -> Frame | None:
        import redis

        try:
            raw: Any = self._redis.get(self.key(session_id))
        except redis.RedisError as error:
            raise FrameStoreUnavailable(type(error).__name__) from error
        if not raw or len(raw) <= _HEADER.size:
            return None
        stamp, _token = _HEADER.unpack_from(raw)
        return Frame(jpeg=bytes(raw[_HEADER.size :]), captured_at=_from_micros(stamp))

    def delete(self, session_id: str) -> None:
        self._redis.delete(self.key(session_id))


# S3 answers these when a conditional write finds the object other than the writer expected: changed (412), gone
# (If-Match on a missing key: 404), or a concurrent conditional write in flight (409, "fetch the ETag and retry").
_CHANGED = frozenset({"PreconditionFailed", "412", "NoSuchKey", "404", "ConditionalRequestConflict", "409"})
_PUT_ATTEMPTS = 4
_REMEMBERED_ETAGS = 4096  # (session, token) pairs: a few per session a process decodes; a forgotten one costs a HEAD
# After the JPEG's end: the writer's token and a mark. S3's ETag is the MD5 of the body, so two holders' byte-identical
# JPEGs (a still picture) would otherwise share one ETag, and an older holder's If-Match could pass on the newer
# holder's object. Decoders ignore bytes after the end of the image; `get` strips them.
_TRAILER = struct.Struct(">q8s")
_MARK = b"lx-token"


def _with_token(jpeg: bytes, token: int) -> bytes:
    return jpeg + _TRAILER.pack(token, _MARK)


def _without_token(body: bytes) -> bytes:
    return body[: -_TRAILER.size] if body.endswith(_MARK) and len(body) >= _TRAILER.size else body


class S3FrameStore:
    """One object per session (`frames/<session id>.jpg`), overwritten in place; a lifecycle rule expires them.

    Fenced with S3's conditional writes: each write is `If-Match` the ETag of this writer's previous write (the first
    one `If-None-Match: *`), so it lands only if nobody wrote in between. When it does not, a HEAD reads the stored
    frame's token (metadata): a higher one means the session was claimed again, and the write is refused; a lower or
    equal one is overwritten, `If-Match` its ETag. Steady state: one PUT per frame.
    """

    def __init__(self, bucket: str, client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("s3")
        self._s3 = client
        self._bucket = bucket
        self._etags: dict[tuple[str, int], str] = {}  # (session, token) -> ETag of that writer's last write
        self._lock = threading.Lock()  # encoder threads write different sessions at once

    @staticmethod
    def key(session_id: str) -> str:
        return f"frames/{session_id}.jpg"

    def put(self, session_id: str, frame: Frame, token: int) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        mine = (session_id, token)
        with self._lock:
            etag = self._etags.get(mine)
        body = _with_token(frame.jpeg, token)
        metadata = {"captured-at-us": str(_micros(frame.captured_at)), "lease-token": str(token)}
        try:
            for _ in range(_PUT_ATTEMPTS):
                condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
                try:
                    reply = self._s3.put_object(
                        Bucket=self._bucket,
                        Key=self.key(session_id),
                        Body=body,
                        ContentType="image/jpeg",
                        Metadata=metadata,
                        **condition,
                    )
                except ClientError as error:
                    if _code(error) not in _CHANGED:
                        raise
                else:
                    self._remember(mine, reply["ETag"])
                    return True
                held = self._held(session_id)  # the object changed since our last write: whose frame is it?
                if held is not None and held[1] > token:
                    self._remember(mine, None)
                    return False
                etag = None if held is None else held[0]
        except (BotoCoreError, ClientError) as error:
            raise FrameStoreUnavailable(type(error).__name__) from error
        raise FrameStoreUnavailable("ConditionalRequestConflict")  # others kept writing in between: next tick

    def _held(self, session_id: str) -> tuple[str, int] | None:
        """The stored frame's ETag and token; None when there is no frame."""
        from botocore.exceptions import ClientError

        try:
            head = self._s3.head_object(Bucket=self._bucket, Key=self.key(session_id))
        except ClientError as error:
            if _code(error) in ("NoSuchKey", "404"):
                return None
            raise
        return head["ETag"], int(head["Metadata"].get("lease-token", "0"))

    def _remember(self, writer: tuple[str, int], etag: str | None) -> None:
        with self._lock:
            self._etags.pop(writer, None)
            if etag is not None:
                if len(self._etags) >= _REMEMBERED_ETAGS:
                    del self._etags[next(iter(self._etags))]  # the oldest entry (dicts keep insertion order)
                self._etags[writer] = etag

    def get(self, session_id: str) -> Frame | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            obj = self._s3.get_object(Bucket=self._bucket, Key=self.key(session_id))
        except self._s3.exceptions.NoSuchKey:
            return None
        except (BotoCoreError, ClientError) as error:
            raise FrameStoreUnavailable(type(error).__name__) from error
        stamp = int(obj["Metadata"].get("captured-at-us", "0"))
        return Frame(jpeg=_without_token(obj["Body"].read()), captured_at=_from_micros(stamp))

    def delete(self, session_id: str) -> None:
        self._s3.delete_object(Bucket=self._bucket, Key=self.key(session_id))


def _code(error: Any) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


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
