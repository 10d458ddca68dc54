"""Pagination cursors: the pattern the OpenAPI document gives is exactly what decodes (luxxon.domain.cursors)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from luxxon.domain.cursors import (
    EVENT_CURSOR_PATTERN,
    SESSION_CURSOR_PATTERN,
    decode_event_cursor,
    decode_session_cursor,
    encode_event_cursor,
    encode_session_cursor,
)
from luxxon.errors import ErrorCode, LxError

# What PostgreSQL's timestamptz (microseconds), bigint and integer hold that a keyset position can name.
times = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC))
bigints = st.integers(-(2**63), 2**63 - 1)
ints = st.integers(-(2**31), 2**31 - 1)


@given(created=times, session_id=st.uuids())
def test_a_session_cursor_gives_back_the_position_it_was_made_from(created: datetime, session_id: uuid.UUID) -> None:
    cursor = encode_session_cursor(created, str(session_id))
    assert re.fullmatch(SESSION_CURSOR_PATTERN, cursor)
    assert decode_session_cursor(cursor) == (created, str(session_id))


@given(block=bigints, log_index=ints)
def test_an_event_cursor_gives_back_the_position_it_was_made_from(block: int, log_index: int) -> None:
    cursor = encode_event_cursor(block, log_index)
    assert re.fullmatch(EVENT_CURSOR_PATTERN, cursor)
    assert decode_event_cursor(cursor) == (block, log_index)


@given(cursor=st.from_regex(SESSION_CURSOR_PATTERN, fullmatch=True))
def test_every_string_of_the_session_pattern_is_a_position(cursor: str) -> None:
    # A schema-valid cursor is never refused for its shape: it names a time (clamped to what a datetime holds) and an id
    created, session_id = decode_session_cursor(cursor)
    assert created.tzinfo is not None and uuid.UUID(session_id)
    # and only that string names that position (no padding, no spare bits)
    assert encode_session_cursor(created, session_id) == cursor or created in (
        datetime.min.replace(tzinfo=UTC),
        datetime.max.replace(tzinfo=UTC),
    )


@given(cursor=st.from_regex(EVENT_CURSOR_PATTERN, fullmatch=True))
def test_every_string_of_the_event_pattern_is_a_position(cursor: str) -> None:
    block, log_index = decode_event_cursor(cursor)
    assert encode_event_cursor(block, log_index) == cursor


def test_a_time_beyond_what_a_datetime_holds_is_clamped_to_its_range() -> None:
    assert decode_session_cursor("f" + "_" * 10 + "8" + "A" * 20)[0] == datetime.max.replace(tzinfo=UTC)  # 2**63-1 µs
    assert decode_session_cursor("g" + "A" * 31)[0] == datetime.min.replace(tzinfo=UTC)  # -2**63 µs
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert decode_session_cursor("A" * 32)[0] == epoch
    assert decode_session_cursor(encode_session_cursor(epoch - timedelta(microseconds=1), str(uuid.uuid4())))[0] < epoch


@pytest.mark.parametrize(
    ("decode", "cursor"),
    [
        (decode_session_cursor, "A" * 31),  # too short
        (decode_session_cursor, "A" * 33),  # too long
        (decode_session_cursor, "A" * 31 + "="),  # padding is not part of it
        (decode_session_cursor, "A" * 31 + "+"),  # base64, not base64url
        (decode_session_cursor, "A" * 31 + "\n"),
        (decode_session_cursor, "MjAyNi0xMi0wM1QxMjowMDowMCswMDowMHw"),  # the old text cursor
        (decode_event_cursor, "%%%"),
        (decode_event_cursor, "A" * 15 + "é"),
    ],
)
def test_a_cursor_of_another_shape_is_invalid_input(decode: object, cursor: str) -> None:
    with pytest.raises(LxError) as refused:
        decode(cursor)  # type: ignore[operator]
    assert (refused.value.code, refused.value.detail) == (ErrorCode.INVALID_INPUT, "input:cursor")
