"""Rate limits: a budget per API key and per workspace, spent by the statement that authenticates, 429 THROTTLED.

Budgets are set per test through LX_RATE_LIMIT_KEY / LX_RATE_LIMIT_WORKSPACE (`<per second>/<burst>`), read on every
request. The same limits across worker processes (Lambda instances) are tested over the gateway (tests/e2e).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

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
    started = time.monotonic()
    for _ in range(8):
        noisy_statuses += [api("GET", "/api/v1/sessions", noisy.key).status for _ in range(10)]
        quiet_statuses.append(api("GET", "/api/v1/sessions", quiet.key).status)
    elapsed = time.monotonic() - started
    # Then only the flood is throttled: it was served its burst and what refilled while it flooded, however long that
    # took on this machine, and nothing more
    assert set(quiet_statuses) == {200}
    assert set(noisy_statuses) == {200, 429}
    assert noisy_statuses.count(200) <= 10 + 5 * elapsed + 1, elapsed


def test_refused_requests_spend_nothing_so_waiting_retry_after_is_enough(
    api: Api, workspace: WorkspaceFactory, budget
) -> None:
    # Given a key with one token a second, whose workspace refills slower (one token every 2 s, bursts of 3)
    budget(key="1/1", workspace="0.5/3")
    me = workspace()
    assert api("GET", "/api/v1/me", me.key).status == 200
    # When it sends ten more requests at once
    refused = [api("GET", "/api/v1/me", me.key) for _ in range(10)]
    # Then each is refused by the key's budget and told the same second: no refusal took a token from the key's
    # bucket (the wait would grow by a second each) nor from the workspace's (the third would empty it: 2 s)
    assert [(r.status, r.error, r.headers["retry-after"]) for r in refused] == [
        (429, ("THROTTLED", "rate:key"), "1")
    ] * 10
    # And waiting exactly that long is enough
    time.sleep(1)
    assert api("GET", "/api/v1/me", me.key).status == 200


@pytest.mark.parametrize(
    ("key_budget", "workspace_budget", "admitted", "refusal", "retry_after"),
    [
        ("0.25/2", "100/100", 2, "rate:key", "4"),  # the key's next token in 4 s
        ("100/100", "0.5/2", 2, "rate:workspace", "2"),  # the workspace's in 2 s
        # both empty: the workspace's budget is named, and the wait is the longer one (the key's)
        ("0.25/1", "0.5/1", 1, "rate:workspace", "4"),
    ],
)
def test_retry_after_is_the_whole_seconds_until_both_buckets_hold_a_token(  # noqa: PLR0913 - the table's columns
    api: Api,
    workspace: WorkspaceFactory,
    budget,
    key_budget: str,
    workspace_budget: str,
    admitted: int,
    refusal: str,
    retry_after: str,
) -> None:
    budget(key=key_budget, workspace=workspace_budget)
    me = workspace()
    assert [api("GET", "/api/v1/me", me.key).status for _ in range(admitted)] == [200] * admitted
    throttled = api("GET", "/api/v1/me", me.key)
    assert (throttled.status, throttled.error, throttled.headers["retry-after"]) == (
        429,
        ("THROTTLED", refusal),
        retry_after,
    )


def test_a_key_over_its_budget_without_the_scope_is_429_not_403(api: Api, workspace: WorkspaceFactory, budget) -> None:
    # Given a key allowed one request, without the scope quotes need
    budget(key="0.01/1")
    reader = workspace("CONSUMER", scopes=["sessions:read"])
    point = {"lat": 1, "lng": 1}
    # When it asks twice: the first is refused for its scope (and spent its token), the second for its budget
    assert api("POST", "/api/v1/pricing/quotes", reader.key, point).error == ("NOT_AUTHORIZED", "scope:sessions:create")
    over = api("POST", "/api/v1/pricing/quotes", reader.key, point)
    # Then the budget is checked before the scopes (README "Errors")
    assert (over.status, over.error) == (429, ("THROTTLED", "rate:key"))


def _buckets(database_url: str) -> set[str]:
    with psycopg.connect(database_url) as conn:
        return {str(row[0]) for row in conn.execute("SELECT subject FROM rate_buckets")}


def test_no_request_creates_a_bucket_but_for_a_key_and_a_workspace_it_spent_from(
    api: Api, workspace: WorkspaceFactory, budget, database_url: str
) -> None:
    # Given a workspace with two keys (one revoked), and the buckets every other test left
    budget(key="100/100", workspace="0.01/3")
    me = workspace()
    revoked = api("POST", "/api/v1/api-keys", me.key, {"name": "revoked", "scopes": ["sessions:read"]}).data
    spare = api("POST", "/api/v1/api-keys", me.key, {"name": "spare", "scopes": ["sessions:read"]}).data
    assert api("DELETE", f"/api/v1/api-keys/{revoked['id']}", me.key).status == 200  # the workspace's budget is spent
    before = _buckets(database_url)
    # When unknown, malformed and revoked keys ask, and the spare key asks while its workspace has no token left
    for key in ("lxxn_" + "A" * 43, "not-a-key", revoked["key"]):
        assert api("GET", "/api/v1/me", key).status == 401
    assert api("GET", "/api/v1/me", spare["key"]).error == ("THROTTLED", "rate:workspace")
    # Then no bucket was created: only the workspace and the key that spent a token have one
    after = _buckets(database_url)
    assert after == before
    assert after & {me.id, me.key_id, revoked["id"], spare["id"]} == {me.id, me.key_id}


def test_a_key_flooding_over_its_budget_leaves_the_other_keys_their_workspace_s_budget(
    api: Api, workspace: WorkspaceFactory, budget
) -> None:
    # Given a workspace of 6 tokens and keys of 3 each (refilling too slowly to matter here)
    budget(key="0.01/3", workspace="0.01/6")
    me = workspace("CONSUMER")
    other = api("POST", "/api/v1/api-keys", me.key, {"name": "agent-2", "scopes": ["sessions:read"]}).data["key"]
    # When one key (a leaked one) floods: 20 requests after its key creation, the workspace's first
    flood = [api("GET", "/api/v1/me", me.key) for _ in range(20)]
    # Then it is served its budget and refused by its key's, which takes nothing from the workspace's
    assert [r.status for r in flood] == [200, 200] + [429] * 18
    assert {r.error for r in flood[2:]} == {("THROTTLED", "rate:key")}
    # So the other key is served within its own budget, from the 3 tokens the flood left the workspace
    assert [api("GET", "/api/v1/sessions", other).status for _ in range(3)] == [200, 200, 200]
    assert api("GET", "/api/v1/sessions", other).error == ("THROTTLED", "rate:workspace")


def test_concurrent_requests_of_one_key_take_from_both_buckets_or_neither(
    workspace: WorkspaceFactory, database_url: str, own_connections: Callable[..., None]
) -> None:
    # Given a key of 5 tokens in a workspace of 100, and 40 requests of that key on 8 connections at once
    from luxxon.db.workspaces import PgWorkspaceStore
    from luxxon.domain.identity import hash_key
    from luxxon.domain.ratelimit import Budget, Budgets

    own_connections("luxxon.db.workspaces")
    me = workspace()
    budgets = Budgets(workspace=Budget(0.001, 100), key=Budget(0.001, 5))
    barrier, waits = threading.Barrier(8), []

    def ask() -> None:
        barrier.wait()
        for _ in range(5):
            metered = PgWorkspaceStore().metered_principal(hash_key(me.key), budgets)
            assert metered is not None
            waits.append((metered.workspace_wait_s, metered.key_wait_s))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    # Then 5 were admitted, and each bucket lost exactly 5 tokens (the refill over the test is a small fraction of one)
    assert len(waits) == 40
    assert waits.count((0.0, 0.0)) == 5
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT subject::text, tokens FROM rate_buckets WHERE subject IN (%s, %s)", (me.id, me.key_id)
        )
        tokens = dict(rows.fetchall())
    assert round(tokens[me.id]) == 95 and round(tokens[me.key_id]) == 0


def test_the_default_budget_is_the_documented_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from luxxon.api.limits import BUDGET_ENV, budgets

    for name in BUDGET_ENV.values():
        monkeypatch.delenv(name, raising=False)
    assert (str(DEFAULT_BUDGETS.workspace), str(DEFAULT_BUDGETS.key)) == ("50/100", "25/50")
    assert budgets() == DEFAULT_BUDGETS
