"""The JSON bound on the worst bodies at the size cap: what parsing a 64 KiB body built to be slow costs.

    .venv/bin/python -m tests.bench.json_depth [--repeat 50] [--smoke]

For each body of tests/worst_json.py (unterminated strings of escaped quotes, backslash runs, brackets inside strings,
deep nesting, nesting to the limit over and over), the p50 and max of the nesting scan alone
(`bounded_json.nesting_depth`) and of the whole parse as the API parses a body (`bounded_json.loads`: the scan, then
json.loads), then the worst of each. Target (issue 16): the scan within 10 ms on any 64 KiB body (the scan it replaced,
a regex stripping the strings, took 12-13 s on the first bodies); the parse is json.loads's own cost beyond it.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from luxxon import bounded_json
from luxxon.api.limits import MAX_JSON_DEPTH
from tests.bench.common import options, p50
from tests.worst_json import WORST_BODIES


def _parse(body: str) -> None:
    try:
        bounded_json.loads(body, MAX_JSON_DEPTH)
    except bounded_json.MalformedJson:
        pass


def _ms(fn: Callable[[str], object], body: str, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn(body)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=50, help="parses of each body")
    args = options(parser, repeat=3)
    print(f"{'body (64 KiB)':<56} {'scan p50':>9} {'max':>7} {'parse p50':>10} {'max':>7}  (ms)")
    scans, parses = {}, {}
    for name, (body, _) in WORST_BODIES.items():
        scan = _ms(bounded_json.nesting_depth, body, args.repeat)
        parse = _ms(_parse, body, args.repeat)
        scans[name], parses[name] = p50(scan), p50(parse)
        print(f"{name:<56} {p50(scan):9.2f} {max(scan):7.2f} {p50(parse):10.2f} {max(parse):7.2f}")
    scan_name, parse_name = max(scans, key=scans.__getitem__), max(parses, key=parses.__getitem__)
    print(
        f"worst scan p50 {scans[scan_name]:.2f} ms ({scan_name}; target ≤ 10 ms), "
        f"worst parse p50 {parses[parse_name]:.2f} ms ({parse_name})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
