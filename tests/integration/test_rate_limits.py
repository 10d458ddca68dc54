"""Rate limits: a budget per API key and per workspace, spent by the statement that authenticates, 429 THROTTLED.

Budgets are set per test through LX_RATE_LIMIT_KEY / LX_RATE_LIMIT_WORKSPACE (`<per second>/<burst>`), read on every
request. The same limits across worker processes (Lambda instances) are tested over the gateway (tests/e2e).
"""

from __future__ import annotations

import time

import psycopg
import pytest

from luxxon.domain.ratelimit import DEFAULT_BUDGETS
from tests.conftest import Api, WorkspaceFactory

ENVELOPE = {"statusCode", "code", "message", "detail", "timestamp"}


@pytest.fixture
def budget(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    def set_budget(*, key: str | None = None, workspace: str | None = None) -> None:
        if key:
            monkeypatch.setenv("LX_RATE_LIMIT_KEY", key)
        if workspace:
            monkeypatch.setenv("LX_RATE_LIMIT_WORKSPACE", workspace)

    return set_budget


def test_a_key_over_its_burst_is_throttled_in_the_envelope_with_retry_after(
    api: Api, workspace: WorkspaceFactory, budget
) -> None:
    # Given a key allowed bursts of 3 and one request a second
    budget(key="1/3")
    me = workspace()
    # When it sends 4 requests at once
    replies = [api("GET", "/api/v1/me", me.key) for _ in range(4)]
    # Then the fourth waits: 429 THROTTLED in the envelope, Retry-After in whole seconds
    assert [r.status for r in replies] == [200, 200, 200, 429]
    throttled = replies[-1]
    assert set(throttled.body) == ENVELOPE
    assert throttled.error == ("THROTTLED", "rate:key")
    assert throttled.body["statusCode"] == 429
    assert throttled.headers["retry-after"] == "1"


def test_the_workspace_budget_is_shared_by_its_keys(api: Api, workspace: WorkspaceFactory, budget) -> None:
    budget(key="1/100", workspace="1/4")
    me = workspace("CONSUMER")
    second = api("POST", "/api/v1/api-keys", me.key, {"name": "agent-2", "scopes": ["sessions:read"]}).data["key"]
    statuses = [api("GET", "/api/v1/sessions", key).status for key in (me.key, second, me.key, second)]
    assert statuses == [200, 200, 200, 429]  # the key creation was the workspace's first request
    assert api("GET", "/api/v1/sessions", second).error == ("THROTTLED", "rate:workspace")


def test_one_key_over_its_budget_leaves_the_other_keys_of_its_workspace_served(
    api: Api, workspace: WorkspaceFactory, budget
) -> None:
    budget(key="1/2", workspace="1/100")
    me = workspace("CONSUMER")
    other = api("POST", "/api/v1/api-keys", me.key, {"name": "agent-2", "scopes": ["sessions:read"]}).data["key"]
    assert api("GET", "/api/v1/sessions", me.key).status == 200
    assert api("GET", "/api/v1/sessions", me.key).error == ("THROTTLED", "rate:key")
    assert [api("GET", "/api/v1/sessions", other).status for _ in range(2)] == [200, 200]


def test_a_flooding_workspace_is_throttled_while_another_workspace_is_served(
    api: Api, workspace: WorkspaceFactory, budget
) -> None:
    # Given two workspaces under the same budget
    budget(key="5/10", workspace="5/10")
    noisy, quiet = workspace("CONSUMER"), workspace("CONSUMER")
    noisy_statuses, quiet_statuses = [], []
    # When one floods (10 requests for each one of the other's)
    for _ in range(8):
        noisy_statuses += [api("GET", "/api/v1/sessions", noisy.key).status for _ in range(10)]
        quiet_statuses.append(api("GET", "/api/v1/sessions", quiet.key).status)
    # Then only the flood is throttled
    assert set(quiet_statuses) == {200}
    assert noisy_statuses.count(429) >= 60
    assert set(noisy_statuses) == {200, 429}


def test_refused_requests_spend_nothing_so_retry_after_is_enough(api: Api, workspace: WorkspaceFactory, budget) -> None:
    budget(key="1/1")
    me = workspace()
    assert api("GET", "/api/v1/me", me.key).status == 200
    refused = [api("GET", "/api/v1/me", me.key) for _ in range(10)]
    assert {r.status for r in refused} == {429}
    # Waiting what the last refusal said is enough: the ten refusals did not push the wait out by ten seconds
    time.sleep(int(refused[-1].headers["retry-after"]))
    assert api("GET", "/api/v1/me", me.key).status == 200


def test_unauthenticated_requests_spend_no_budget(
    api: Api, workspace: WorkspaceFactory, budget, database_url: str
) -> None:
    budget(key="1/1")
    me = workspace()
    for _ in range(5):
        assert api("GET", "/api/v1/me", "lxxn_" + "A" * 43).status == 401
    assert api("GET", "/api/v1/me", me.key).status == 200
    with psycopg.connect(database_url) as conn:
        subjects = {str(row[0]) for row in conn.execute("SELECT subject FROM rate_buckets")}
    assert {me.id, me.key_id} <= subjects


def test_the_default_budget_is_the_documented_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from luxxon.api.limits import BUDGET_ENV, budgets

    for name in BUDGET_ENV.values():
        monkeypatch.delenv(name, raising=False)
    assert (str(DEFAULT_BUDGETS.workspace), str(DEFAULT_BUDGETS.key)) == ("50/100", "25/50")
    assert budgets() == DEFAULT_BUDGETS
