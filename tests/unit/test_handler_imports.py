"""What a handler module loads when Lambda imports it (its cold start): only what its route row needs.

The composition root builds services and stores on first use (luxxon.wiring), so importing a handler loads none of
them; a route that reaches no database (/health, the docs) does not even load psycopg; no handler loads web3. Each
handler is imported in a fresh interpreter, as a new Lambda sandbox would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from luxxon.routes import DATABASE, ROUTES, Route

# Built on first use by luxxon.wiring, never at import.
SERVICES_AND_STORES = ("luxxon.db.", "luxxon.adapters.", "luxxon.wiring_chain")
SERVICE_MODULES = {
    f"luxxon.domain.{name}"
    for name in ("sessions", "workspaces", "pricing", "outbox", "wallets", "webhooks", "windows", "sweep", "settlement")
}
NEVER = ("web3", "eth_account", "eth_abi", "eth_utils")


def _loaded(module: str) -> set[str]:
    probe = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


@pytest.fixture(scope="module")
def loaded() -> dict[str, set[str]]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip((r.module for r in ROUTES), pool.map(_loaded, (r.module for r in ROUTES)), strict=True))


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_importing_a_handler_builds_no_service_store_or_adapter(route: Route, loaded: dict[str, set[str]]) -> None:
    modules = loaded[route.module]
    assert not {m for m in modules if m.startswith(SERVICES_AND_STORES) or m in SERVICE_MODULES}
    assert not {m for m in modules if m.split(".")[0] in NEVER}


@pytest.mark.parametrize("route", [r for r in ROUTES if DATABASE not in r.needs], ids=lambda r: r.name)
def test_a_handler_that_reaches_no_database_never_loads_psycopg(route: Route, loaded: dict[str, set[str]]) -> None:
    assert "psycopg" not in loaded[route.module]
