r"""JSON from outside, parsed within bounds: nesting is measured on the text before the parser sees it.

`json.loads` guards its recursion with the interpreter's recursion limit, and a library may raise that limit past
what the C stack holds (py_ecc, which web3 imports, sets it to 100,000): deeply nested input then crashes the
process instead of raising RecursionError. So depth is checked first, by a scan that recurses on nothing.

The scan is one pass, in time linear in the text's length whatever the text holds. (A regex stripping the strings
first, `"(?:[^"\\]|\\.)*"`, rescans to the end of the text from every quote of an unterminated string: 64 KiB of `\"`
took 13 s. The pass takes a few milliseconds on any 64 KiB: tests/unit/test_bounded_json.py, tests/bench/json_depth.py.)
"""

from __future__ import annotations

import json
from typing import Any


class MalformedJson(ValueError):
    """Not JSON, not strict JSON (NaN, Infinity), not UTF-8, or nested too deeply."""


def nesting_depth(text: str) -> int:
    """How deep arrays and objects nest in `text` (brackets inside strings do not count), in one pass.

    Strings are read as JSON reads them: a quote outside a string opens one, a backslash inside escapes the character
    after it, an unescaped quote closes it. So on any text the count agrees with the parser up to where the parser
    would stop; after an unterminated string nothing counts (the parser refuses the text there anyway).
    """
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > deepest:  # noqa: PLR1730 - max() is a call per bracket: 3x slower on 64 KiB of them
                deepest = depth
        elif char in "]}":
            depth -= 1
    return deepest


def _no_constant(name: str) -> Any:
    raise MalformedJson(f"{name} is not JSON")


def loads(raw: str | bytes, max_depth: int) -> Any:
    """Strict JSON (no NaN/Infinity) nested at most `max_depth` deep, else MalformedJson."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise MalformedJson("not UTF-8") from None
    if nesting_depth(text) > max_depth:
        raise MalformedJson(f"nested deeper than {max_depth}")
    try:
        return json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as error:  # JSONDecodeError and over-long integers are ValueErrors
        raise MalformedJson(str(error)) from None
