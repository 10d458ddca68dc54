"""Every bench still runs: each in a process of its own with `--smoke` (tiny sizes, seconds), as `make bench` runs it.

No figure is judged here, only that the bench finished and printed its figures: a bench nobody runs rots (the decoder
bench died at its first session once the API required a funded consumer and a covering supplier, and nothing noticed),
so `make test` runs them all. `pytest -m "not bench"` leaves them out of a local run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bench.run import BENCHES

HERE = Path(__file__).resolve().parent
LOAD = "tests.bench.load"  # a minute of HTTP load at full size (also `make load`)
# The last figure each bench prints: a bench that stops early, or prints nothing, fails.
FIGURES = {
    "tests.bench.import_time": r"^worst import = [\d.]+x the floor",
    "tests.bench.handler_latency": r"^POST /sessions/\{id\}/accept +\d+us +\d+us",
    "tests.bench.inbox": r"^inbox query p50 [\d.]+ ms",
    "tests.bench.pricing": r"^rate query p50 [\d.]+ ms",
    "tests.bench.json_depth": r"^worst scan p50 [\d.]+ ms .*, worst parse p50 [\d.]+ ms",
    "tests.bench.edge_relay": r"^mediarelay +1 +[\d.]+%",
    "tests.bench.decoder": r"^\(d\) decoder memory.*\n +VP8 +x1 +base \d+ MiB.*\n +H264 +x1 +base \d+ MiB",
    "tests.bench.gas": r"^  withdrawEarnings +[\d,]+$",
    "tests.bench.relayer": r"one at a time: end → CONFIRMED p50 / max +[\d.]+ s",
    "tests.bench.credit": r"the credit eth_call alone .* p50 +\d+ us$",
    LOAD: r"^ +2 +\d+ +\d+ +[\d.]+ +[\d.]+  0$",  # and no request failed (the last column counts errors)
}


def test_every_bench_in_the_folder_has_a_smoke_run() -> None:
    scripts = {p.stem for p in HERE.glob("*.py")} - {"__init__", "common", "run", Path(__file__).stem}
    assert {f"tests.bench.{name}" for name in scripts} == set(FIGURES) == set(BENCHES)


@pytest.mark.bench
@pytest.mark.parametrize("module", BENCHES)
def test_the_bench_finishes_its_smoke_run_and_prints_its_figures(module: str) -> None:
    # What a shell gives `make bench`: none of the LX_* settings this test run's fixtures point at their own services.
    env = {name: value for name, value in os.environ.items() if not name.startswith("LX_")}
    run = subprocess.run(
        [sys.executable, "-m", module, "--smoke"],
        cwd=HERE.parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    output = f"--- stdout\n{run.stdout[-4000:]}\n--- stderr\n{run.stderr[-4000:]}"
    assert run.returncode == 0, output
    assert re.search(FIGURES[module], run.stdout, re.MULTILINE), output
