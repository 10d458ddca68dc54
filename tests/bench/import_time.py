"""Cold import time of every API handler module, against the floor (target: each ≤ 1.2× the floor, without
SnapStart), and what its first request adds: the composition root builds services on first use (luxxon.wiring), so
a route that reaches the database imports its services and stores then (`first req`; SnapStart's snapshot holds them).

The floor is what any handler of this shape pays before a line of ours: Powertools' REST resolver with validation,
Logger and Metrics, pydantic with one constrained model, psycopg. Each figure is the median of 5 fresh interpreters;
`-X importtime` adds its own overhead, so wall-clock import time is measured (and web3 is checked via importtime).

    .venv/bin/python -m tests.bench.import_time [--smoke]
"""

from __future__ import annotations

import statistics
import subprocess
import sys

from luxxon.api.snapstart import SERVICES
from luxxon.routes import DATABASE, ROUTES
from tests.bench.common import ROOT, options

TARGET_RATIO = 1.2  # every handler's import against the floor
RUNS = 5
FLOOR = """
import psycopg
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from pydantic import BaseModel, Field
class M(BaseModel):
    a: float = Field(ge=0)
app = APIGatewayRestResolver(enable_validation=True)
logger, metrics = Logger(), Metrics(namespace="x")
"""
BASE = "import psycopg, pydantic, aws_lambda_powertools.event_handler"


def wall_ms(code: str) -> float:
    probe = f"import time; t = time.perf_counter()\n{code}\nprint((time.perf_counter() - t) * 1000)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    return float(out.stdout.strip().splitlines()[-1])


def imports_web3(module: str) -> bool:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return any(line.split("|")[-1].strip().startswith("web3") for line in out.stderr.splitlines() if "|" in line)


def median_ms(code: str, runs: int = RUNS) -> float:
    return statistics.median(wall_ms(code) for _ in range(runs))


def paired_ms(code: str, runs: int) -> tuple[float, float]:
    """Medians of `code` and of the floor, each run alternating with the other: the machine's drift (a shared
    2-core box) then moves both alike, and their ratio is what the target judges."""
    pairs = [(wall_ms(code), wall_ms(FLOOR)) for _ in range(runs)]
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


def main() -> int:
    runs, routes = (1, ROUTES[:2]) if options().smoke else (RUNS, ROUTES)  # smoke: one interpreter, two handlers
    base, floor = median_ms(BASE, runs), median_ms(FLOOR, runs)
    print(f"{'Powertools + pydantic + psycopg (bare imports)':52} {base:8.1f} ms")
    print(f"{'floor: + resolver(validation), Logger, Metrics, a model':52} {floor:8.1f} ms")
    print(f"\n{'handler module':40} {'import ms':>10} {'/ floor':>8} {'first req':>10} {'/ floor':>8}  web3")
    worst, worst_first = 0.0, 0.0
    for route in routes:
        ms, beside = paired_ms(f"import {route.module}", runs)
        services = SERVICES if DATABASE in route.needs else ()
        first, beside_first = paired_ms("\n".join(f"import {name}" for name in (route.module, *services)), runs)
        worst, worst_first = max(worst, ms / beside), max(worst_first, first / beside_first)
        web3 = "YES" if imports_web3(route.module) else "no"
        print(f"{route.module:40} {ms:10.1f} {ms / beside:7.2f}x {first:10.1f} {first / beside_first:7.2f}x  {web3}")
    verdict = "within" if worst <= TARGET_RATIO else "OVER"
    print(
        f"\nworst import = {worst:.2f}x the floor beside it: {verdict} the {TARGET_RATIO}x target; "
        f"with what its first request imports, worst {worst_first:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
