"""luxxon/bounded_json.py: nesting is refused before the parser runs, whatever the recursion limit."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from luxxon import bounded_json
from luxxon.api.limits import MAX_JSON_DEPTH
from tests.worst_json import WORST_BODIES

DEPTH = 100_000  # deeper than the C stack holds once the recursion limit is raised

# What a process that imported web3 looks like (py_ecc raises the recursion limit to 100,000 at import), then both
# entry points that parse JSON from outside: the API's body parser and the video edge's notification parser.
_PROBE = f"""
import sys
sys.setrecursionlimit(100_000)
from luxxon.adapters.video import parse_notification
from luxxon.api.limits import parse_json
from luxxon.domain.ports.video import WebhookRejected
from luxxon.errors import LxError
deep = "[" * {DEPTH} + "]" * {DEPTH}
for parse, refused in ((parse_json, LxError), (lambda t: parse_notification(t.encode()), WebhookRejected)):
    try:
        parse(deep)
    except refused:
        pass
print("refused both")
"""


def test_deep_nesting_is_refused_not_a_crash_even_with_a_raised_recursion_limit() -> None:
    run = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60, check=False)
    assert (run.returncode, run.stdout.strip()) == (0, "refused both"), run.stderr[-2000:]


@pytest.mark.parametrize(
    ("text", "depth"),
    [("1", 0), ("[]", 1), ('{"a": [1, {"b": []}]}', 4), ('["[[[[", "]]"]', 1), ('{"k": "\\"[[["}', 1)],
)
def test_depth_ignores_brackets_inside_strings(text: str, depth: int) -> None:
    assert bounded_json.nesting_depth(text) == depth


@given(
    st.recursive(
        st.none() | st.integers() | st.text(),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
        max_leaves=20,
    )
)
def test_whatever_json_within_the_depth_parses_to_itself(value: object) -> None:
    text = json.dumps(value)
    assert bounded_json.loads(text, 64) == value


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"a": 1', b"\xff\xfe", "[" * 33 + "]" * 33])
def test_malformed_strict_or_too_deep_json_is_refused(text: str | bytes) -> None:
    with pytest.raises(bounded_json.MalformedJson):
        bounded_json.loads(text, 32)


# Strings full of what the scan must see through: quotes, backslashes, brackets, and any other character.
_TRICKY_TEXT = st.text(st.sampled_from('"\\[]{}u/') | st.characters(), max_size=12)
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | _TRICKY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TRICKY_TEXT, inner, max_size=4),
    max_leaves=40,
)


def _parsed_depth(value: Any) -> int:
    """The depth as json's own parse gives it: an array or object is one deeper than its deepest element."""
    if isinstance(value, list):
        return 1 + max(map(_parsed_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_parsed_depth, value.values()), default=0)
    return 0


@given(_JSON_VALUES, st.booleans(), st.sampled_from([None, 0, 2]), st.sampled_from([(",", ":"), (", ", ": ")]))
def test_on_valid_json_the_depth_is_the_depth_of_json_s_own_parse(
    value: object, ascii_only: bool, indent: int | None, separators: tuple[str, str]
) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only, indent=indent, separators=separators)
    assert bounded_json.nesting_depth(text) == _parsed_depth(json.loads(text))


@pytest.mark.parametrize("name", WORST_BODIES)
def test_the_worst_bodies_at_the_size_cap_are_refused_or_parsed_in_milliseconds(name: str) -> None:
    # Given a 64 KiB body built to be slow (unterminated strings of escaped quotes took 13 s to refuse here)
    body, parses = WORST_BODIES[name]
    # When it is parsed as the API parses a body
    started = time.perf_counter()
    try:
        bounded_json.loads(body, MAX_JSON_DEPTH)
        parsed = True
    except bounded_json.MalformedJson:
        parsed = False
    elapsed = time.perf_counter() - started
    # Then it is answered at once (a generous bound: the figures are tests/bench/json_depth.py's, a few ms)
    assert parsed is parses
    assert elapsed < 0.5, f"{name}: {elapsed:.2f} s"
