"""The consistency token's seal (luxxon/api/consistency.py): opaque to clients, opened by the deployment issuing it."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from luxxon.api.consistency import PATTERN, open_token, seal

KEY = "a-deployments-key"
XID8 = st.integers(min_value=0, max_value=2**64 - 1)


@given(XID8)
def test_a_token_opens_to_its_transaction_under_the_key_that_sealed_it(transaction_id: int) -> None:
    token = seal(transaction_id, KEY)
    assert re.fullmatch(PATTERN, token)
    assert open_token(token, KEY) == transaction_id


@given(XID8)
def test_sealing_is_deterministic_so_a_replay_answers_the_same_token(transaction_id: int) -> None:
    assert seal(transaction_id, KEY) == seal(transaction_id, KEY)


@given(XID8, st.integers(min_value=1, max_value=1_000))
def test_consecutive_transactions_give_tokens_with_nothing_in_common(transaction_id: int, gap: int) -> None:
    # A client that sees two tokens learns neither their distance nor their order: no shared prefix to compare
    first, later = seal(transaction_id, KEY), seal(min(transaction_id + gap, 2**64 - 1), KEY)
    if first != later:
        assert first[:8] != later[:8]


@given(XID8)
def test_another_key_opens_nothing(transaction_id: int) -> None:
    assert open_token(seal(transaction_id, KEY), "another-deployments-key") is None


@given(XID8, st.integers(min_value=0, max_value=31), st.sampled_from("AQgw_-"))
def test_an_altered_token_opens_nothing(transaction_id: int, position: int, replacement: str) -> None:
    token = seal(transaction_id, KEY)
    altered = token[:position] + replacement + token[position + 1 :]
    if altered != token:
        assert open_token(altered, KEY) is None


def test_anything_else_opens_nothing() -> None:
    for token in ("", "12345", "drop table", "é" * 32, "A" * 31, "A" * 33, "A" * 32, seal(7, KEY) + "\n"):
        assert open_token(token, KEY) is None
