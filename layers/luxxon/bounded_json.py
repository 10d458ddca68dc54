"""JSON from outside, parsed within bounds: nesting is measured on the text before the parser sees it.

`json.loads` guards its recursion with the interpreter's recursion limit, and a library may raise that limit past
what the C stack holds (py_ecc, which web3 imports, sets it to 100,000): deeply nested input then crashes the
process instead of raising RecursionError. So depth is checked first, by a scan that recurses on nothing.
"""

from __future__ import annotations

import json
import re
from typing import Any

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(r"[\[\]{}]")


class MalformedJson(ValueError):
    """Not JSON, not strict JSON (NaN, Infinity), not UTF-8, or nested too deeply."""


def nesting_depth(text: str) -> int:
    """How deep arrays and objects nest in `text` (brackets inside strings do not count)."""
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_STRING.sub('""', text)):
        if bracket in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
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
