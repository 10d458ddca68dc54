"""luxxon/bounded_json.py: nesting is refused before the parser runs, whatever the recursion limit."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from luxxon import bounded_json

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
    import json

    text = json.dumps(value)
    assert bounded_json.loads(text, 64) == value


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"a": 1', b"\xff\xfe", "[" * 33 + "]" * 33])
def test_malformed_strict_or_too_deep_json_is_refused(text: str | bytes) -> None:
    with pytest.raises(bounded_json.MalformedJson):
        bounded_json.loads(text, 32)
