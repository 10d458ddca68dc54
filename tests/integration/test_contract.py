"""The contract, fuzzed: schemathesis over every operation of the served OpenAPI document.

The document is the one the API serves (`/api/v1/openapi.json`, generated from the handlers), fetched through the
local gateway, which sends every request to the handlers as API Gateway would. Real keys: a consumer, a supplier
(operator-side operations) and a workspace of its own for the API-key operations. Every check of schemathesis runs;
the few exclusions are in `schemathesis.toml` beside this file, each with the rule that explains it. The run is
bounded (examples per operation, stateful steps) and seeded, so CI stays fast and a failure reproduces.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from luxxon.routes import ROUTES
from tests.conftest import RunningEdge, WorkspaceFactory
from tests.e2e.conftest import base_url, chain_env, edge_env, running_gateway

pytestmark = [pytest.mark.contract, pytest.mark.timeout(900)]  # about a minute here; CI machines are busier

CONFIG = Path(__file__).with_name("schemathesis.toml")
# The fuzz sends hundreds of requests a second with each key, all from 127.0.0.1: the rate limits and the edge limit
# (each tested on its own) stay out of its way.
FUZZ_BUDGET = {"LX_RATE_LIMIT_WORKSPACE": "100000/100000", "LX_RATE_LIMIT_KEY": "100000/100000", "LX_EDGE_LIMIT": "off"}
BOGOTA = (4.71, -74.07, 50_000.0)  # the schema's example point: sessions the examples create are in coverage


def test_every_operation_of_the_served_document_keeps_its_contract(
    workspace: WorkspaceFactory, edge: RunningEdge, chain: Any, tmp_path: Path
) -> None:
    # Given real keys for each side of the API, and the local system's gateway in front of the handlers
    consumer = workspace("CONSUMER", scopes=["sessions:create", "sessions:read", "workspace:read", "workspace:admin"])
    supplier = workspace("SUPPLIER", coverage=BOGOTA)
    keys_admin = workspace("CONSUMER", scopes=["workspace:admin"])
    report = tmp_path / "schemathesis.json"
    with running_gateway(4, {**edge_env(edge), **FUZZ_BUDGET, **chain_env(chain)}) as server:
        base = base_url(server)
        env = {
            **os.environ,
            "LX_FUZZ_BASE_URL": base,
            "LX_FUZZ_CONSUMER_KEY": consumer.key,
            "LX_FUZZ_SUPPLIER_KEY": supplier.key,
            "LX_FUZZ_KEYS_ADMIN_KEY": keys_admin.key,
        }
        started = time.monotonic()
        # When schemathesis runs every phase (examples, coverage, fuzzing, stateful) over the served document
        run = subprocess.run(
            [sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run",
             f"{base}/api/v1/openapi.json", "--report", "json", "--report-json-path", str(report)],
            env=env, capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
        wall = time.monotonic() - started

    # Then every operation was tested and nothing failed: no server error, no undocumented status or content type,
    # no response outside its schema, no schema-valid request refused but by a rule named in the configuration
    assert report.exists(), run.stdout[-20_000:] + run.stderr[-5_000:]
    summary = json.loads(report.read_text())
    cases = summary["test_cases"]
    print(
        f"\nschemathesis: {summary['operations']['tested']} operations, {cases['generated']} cases, "
        f"{len(summary['failures'])} failures, {len(summary['errors'])} errors, {wall:.0f} s"
    )
    print(run.stdout[run.stdout.find("Examples (") - 4 :])
    assert run.returncode == 0, run.stdout[-20_000:] + run.stderr[-5_000:]
    assert summary["operations"]["tested"] == len(ROUTES)
    assert (summary["failures"], summary["errors"]) == ([], [])
