"""Every benchmark, one after the other (`make bench`). Each prints its own figures; none passes or fails on time."""

from __future__ import annotations

import subprocess
import sys

BENCHES = (
    "tests.bench.import_time",
    "tests.bench.handler_latency",
    "tests.bench.inbox",
    "tests.bench.pricing",
    "tests.bench.edge_relay",
    "tests.bench.decoder",
    "tests.bench.gas",
    "tests.bench.relayer",
    "tests.bench.credit",
)


def main() -> int:
    for module in BENCHES:
        print(f"\n=== {module}", flush=True)
        subprocess.run([sys.executable, "-m", module], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
