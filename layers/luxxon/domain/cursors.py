"""Pagination cursors: opaque to clients, and of a fixed width, so that the pattern the OpenAPI document gives is
exactly the set of cursors the API accepts.

A cursor is a keyset position packed in a whole number of 3-byte groups and base64url-encoded without padding: every
string of its length over the base64url alphabet decodes to exactly one position (no padding, no spare bits), and
every position is a valid place to continue from. A position no page ever ended at is still a position: the page
after it is whatever sorts after it (a far-future time: from the newest; a far-past one: nothing).
"""

from __future__ import annotations

import base64
import re
import struct
from datetime import UTC, datetime, timedelta
from uuid import UUID

from luxxon.errors import invalid_input


class _Codec:
    def __init__(self, layout: str) -> None:
        self.struct = struct.Struct(layout)
        assert self.struct.size % 3 == 0, "a whole number of base64 groups: no padding, no spare bits"
        self.length = self.struct.size // 3 * 4
        self.pattern = f"^[A-Za-z0-9_-]{{{self.length}}}$"
        self._shape = re.compile(f"[A-Za-z0-9_-]{{{self.length}}}")

    def encode(self, *fields: object) -> str:
        return base64.urlsafe_b64encode(self.struct.pack(*fields)).decode()

    def decode(self, cursor: str) -> tuple[object, ...]:
        if not self._shape.fullmatch(cursor):
            raise invalid_input("cursor")
        return self.struct.unpack(base64.urlsafe_b64decode(cursor))


# Sessions, newest first by (created_at, id): microseconds since the Unix epoch (UTC) and the id's 16 bytes.
_SESSIONS = _Codec(">q16s")
# Wallet events, newest first by (block_number, log_index): PostgreSQL's bigint and integer.
_EVENTS = _Codec(">qi")

SESSION_CURSOR_PATTERN = _SESSIONS.pattern  # ^[A-Za-z0-9_-]{32}$
EVENT_CURSOR_PATTERN = _EVENTS.pattern  # ^[A-Za-z0-9_-]{16}$

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FIRST = datetime.min.replace(tzinfo=UTC)
_LAST = datetime.max.replace(tzinfo=UTC)


def encode_session_cursor(created_at: datetime, session_id: str) -> str:
    micros = (created_at - _EPOCH) // timedelta(microseconds=1)
    return _SESSIONS.encode(micros, UUID(session_id).bytes)


def decode_session_cursor(cursor: str) -> tuple[datetime, str]:
    """(created_at, session id) to continue after; a time outside what a datetime holds is clamped to its range."""
    micros, raw_id = _SESSIONS.decode(cursor)
    assert isinstance(micros, int) and isinstance(raw_id, bytes)
    if micros <= (_FIRST - _EPOCH) // timedelta(microseconds=1):
        created = _FIRST
    elif micros >= (_LAST - _EPOCH) // timedelta(microseconds=1):
        created = _LAST
    else:
        created = _EPOCH + timedelta(microseconds=micros)
    return created, str(UUID(bytes=raw_id))


def encode_event_cursor(block: int, log_index: int) -> str:
    return _EVENTS.encode(block, log_index)


def decode_event_cursor(cursor: str) -> tuple[int, int]:
    """(block number, log index) to continue after."""
    block, log_index = _EVENTS.decode(cursor)
    assert isinstance(block, int) and isinstance(log_index, int)
    return block, log_index
