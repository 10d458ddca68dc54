"""Every benchmark, one after the other (`make bench`). Each prints its own figures; none passes or fails on time.

    .venv/bin/python -m tests.bench.run [--smoke]    # --smoke: each with tiny sizes, in seconds (make test's run)

`load` (a minute of HTTP load against the local gateway) is among them, and also runs alone as `make load`.
"""

from __future__ import annotations

import subprocess
import sys

from tests.bench.common import options

BENCHES = (
    "tests.bench.import_time",
    "tests.bench.handler_latency",
    "tests.bench.inbox",
    "tests.bench.pricing",
    "tests.bench.json_depth",
    "tests.bench.edge_relay",
    "tests.bench.decoder",
    "tests.bench.gas",
    "tests.bench.relayer",
    "tests.bench.credit",
    "tests.bench.load",
)


def main() -> int:
    smoke = ["--smoke"] if options().smoke else []
    for module in BENCHES:
        print(f"\n=== {module}", flush=True)
        subprocess.run([sys.executable, "-m", module, *smoke], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
