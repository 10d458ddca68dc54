"""The worst JSON bodies at the size cap (64 KiB) for luxxon.bounded_json: each is refused or parsed in milliseconds.

Shared by the unit test (tests/unit/test_bounded_json.py), the API test (tests/integration/test_api_edge.py) and the
bench (tests/bench/json_depth.py). The first four cost seconds each with the nesting scan that stripped strings with a
regex (it rescanned to the end of the text from every quote of an unterminated string); the others are what else an
attacker would try: deep nesting, brackets and backslash runs inside strings, nesting to the limit over and over.
"""

from __future__ import annotations

from luxxon.api.limits import MAX_BODY_BYTES, MAX_JSON_DEPTH


def _fill(head: str, unit: str, tail: str = "") -> str:
    """`head`, then `unit` as often as fits in MAX_BODY_BYTES with `tail` after it (every unit here is ASCII)."""
    return head + unit * ((MAX_BODY_BYTES - len(head) - len(tail)) // len(unit)) + tail


NEST = "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1)  # inside the outer array: exactly MAX_JSON_DEPTH deep

# name → (body, parses): whether the body is JSON within the bounds (else it is refused).
WORST_BODIES: dict[str, tuple[str, bool]] = {
    "an unterminated string of escaped quotes": (_fill('"', '\\"'), False),
    "the same in a field": (_fill('{"lat": 1, "lng": 2, "name": "', '\\"'), False),
    "a quote, then backslash-quote pairs, then a backslash": (_fill('"', '\\"', "\\"), False),
    "unterminated strings of escaped quotes, nested": (_fill('[["', '\\"\\"\\\\'), False),
    "a backslash run in an unterminated string": (_fill('["', "\\"), False),
    "a backslash run in a closed string": (_fill('["', "\\\\", '"]'), True),
    "brackets in an unterminated string": (_fill('["', "[{"), False),
    "brackets in strings": (_fill("[", '"[{]}[{",', '""]'), True),
    "nested 64 Ki deep": (_fill("", "["), False),
    "nested 32 Ki deep, and closed": ("[" * (MAX_BODY_BYTES // 2) + "]" * (MAX_BODY_BYTES // 2), False),
    "nested to the limit, over and over": (_fill("[", NEST + ",", NEST + "]"), True),
    "empty strings": (_fill("[", '"",', '""]'), True),
    "quotes only": (_fill("", '"'), False),
    "unicode-escaped quotes in an unterminated string": (_fill('"', "\\u0022"), False),
}
