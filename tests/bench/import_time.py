"""Cold import time of every API handler module, against a 250 ms budget and against the floor.

The floor is what any handler of this shape pays before a line of ours: Powertools' REST resolver with validation,
Logger and Metrics, pydantic with one constrained model, psycopg. Each figure is the median of 5 fresh interpreters;
`-X importtime` adds its own overhead, so wall-clock import time is measured (and web3 is checked via importtime).

    .venv/bin/python -m tests.bench.import_time [--smoke]
"""

from __future__ import annotations

import statistics
import subprocess
import sys

from luxxon.routes import ROUTES
from tests.bench.common import ROOT, options

BUDGET_MS = 250.0
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


def main() -> int:
    runs, routes = (1, ROUTES[:2]) if options().smoke else (RUNS, ROUTES)  # smoke: one interpreter, two handlers
    base, floor = median_ms(BASE, runs), median_ms(FLOOR, runs)
    print(f"{'Powertools + pydantic + psycopg (bare imports)':52} {base:8.1f} ms")
    print(f"{'floor: + resolver(validation), Logger, Metrics, a model':52} {floor:8.1f} ms")
    print(f"\n{'handler module':40} {'import ms':>10} {'over floor':>11}  web3")
    worst = 0.0
    for route in routes:
        ms = median_ms(f"import {route.module}", runs)
        worst = max(worst, ms)
        print(f"{route.module:40} {ms:10.1f} {ms - floor:+11.1f}  {'YES' if imports_web3(route.module) else 'no'}")
    verdict = "within" if worst < BUDGET_MS else "OVER"
    print(f"\nworst {worst:.1f} ms: {verdict} the {BUDGET_MS:.0f} ms budget; worst/floor = {worst / floor:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
