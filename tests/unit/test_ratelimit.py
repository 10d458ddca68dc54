"""The rate-limit policy (luxxon.domain.ratelimit): budgets as written in settings, and what an empty bucket means."""

from __future__ import annotations

import pytest

from luxxon.domain.ports.workspaces import Principal
from luxxon.domain.ratelimit import Budget, Metered, admit
from luxxon.errors import ErrorCode, Throttled

WHO = Principal(workspace_id="w", key_id="k", scopes=frozenset(), roles=frozenset())


def test_a_budget_is_written_rate_slash_burst() -> None:
    assert Budget.parse("25/50") == Budget(25.0, 50)
    assert Budget.parse("0.5/1") == Budget(0.5, 1)
    assert str(Budget(25, 50)) == "25/50"


@pytest.mark.parametrize("text", ["25", "25/", "/50", "a/b", "0/10", "-1/10", "10/0", "inf/10", "nan/10"])
def test_a_budget_that_allows_nothing_or_cannot_be_read_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        Budget.parse(text)


def test_within_both_budgets_the_principal_is_admitted() -> None:
    assert admit(Metered(WHO, 0.0, 0.0)) is WHO


@pytest.mark.parametrize(
    ("workspace_wait", "key_wait", "detail", "retry_after"),
    [
        (0.2, 0.0, "rate:workspace", 1),
        (0.0, 1.01, "rate:key", 2),
        (3.0, 0.0, "rate:workspace", 3),
        (0.5, 2.5, "rate:workspace", 3),  # both empty: the workspace's budget, and long enough for both to refill
    ],
)
def test_an_empty_bucket_is_throttled_with_whole_seconds_to_wait(
    workspace_wait: float, key_wait: float, detail: str, retry_after: int
) -> None:
    with pytest.raises(Throttled) as refused:
        admit(Metered(WHO, workspace_wait, key_wait))
    assert (refused.value.code, refused.value.detail) == (ErrorCode.THROTTLED, detail)
    assert refused.value.retry_after_s == retry_after
