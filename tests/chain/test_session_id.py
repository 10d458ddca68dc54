"""A session's UUID in the contract's bytes32, and back."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from luxxon.contracts import session_id


@given(st.uuids())
def test_every_uuid_round_trips_through_its_bytes32(value: uuid.UUID) -> None:
    assert session_id.from_bytes32(session_id.to_bytes32(value)) == value
    assert session_id.from_bytes32(session_id.to_hex(value)) == value


def test_the_uuid_is_left_aligned_with_the_low_half_zero() -> None:
    value = uuid.UUID("0190a5c4-7e3f-7b2a-9c1d-2e4f6a8b0c1d")

    assert session_id.to_hex(value) == "0x0190a5c47e3f7b2a9c1d2e4f6a8b0c1d" + "0" * 32
    assert session_id.to_bytes32(str(value)) == value.bytes + bytes(16)


@pytest.mark.parametrize(
    "raw",
    ["0x" + "11" * 32, "0x" + "00" * 16 + "22" * 16, "0x" + "33" * 16, b"\x01" * 31],
    ids=["low half set", "right-aligned", "16 bytes", "31 bytes"],
)
def test_a_value_that_is_not_a_session_id_is_refused(raw: str | bytes) -> None:
    with pytest.raises(ValueError, match="not a session id"):
        session_id.from_bytes32(raw)
