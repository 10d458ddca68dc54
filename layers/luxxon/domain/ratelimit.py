"""Rate limits: every API key and every workspace has a budget of requests (a token bucket).

The budget is policy and lives here. The store spends from the buckets in the one statement that authenticates the
request (no extra round trip, and the state is in the database, so the limit holds across every Lambda instance):
a token from each bucket, or, when either is empty, from neither, reporting how long each must refill. This module
turns that into 429 THROTTLED.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from luxxon.domain.ports.workspaces import Principal
from luxxon.errors import Throttled


@dataclass(frozen=True, slots=True)
class Budget:
    """A token bucket: `burst` requests at once, refilled at `per_second`."""

    per_second: float
    burst: int

    def __post_init__(self) -> None:
        if not (self.per_second > 0 and math.isfinite(self.per_second) and self.burst >= 1):
            raise ValueError(f"a budget needs a positive rate and a burst of at least 1, not {self}")

    @classmethod
    def parse(cls, text: str) -> Budget:
        """`"25/50"`: 25 requests a second sustained, bursts of 50."""
        rate, _, burst = text.partition("/")
        try:
            return cls(float(rate), int(burst))
        except ValueError:
            raise ValueError(f"a budget is written <per second>/<burst>, e.g. 25/50, not {text!r}") from None

    def __str__(self) -> str:
        return f"{self.per_second:g}/{self.burst}"


@dataclass(frozen=True, slots=True)
class Budgets:
    workspace: Budget  # shared by every key of the workspace
    key: Budget  # one API key's share


# The documented budget (README "Limits"). A key may use half of its workspace's, so one runaway agent key leaves
# the workspace's other keys room; the stage's own throttle (API Gateway) stays the ceiling for everyone together.
DEFAULT_BUDGETS = Budgets(workspace=Budget(50, 100), key=Budget(25, 50))
WORKSPACE, KEY = "workspace", "key"


@dataclass(frozen=True, slots=True)
class Metered:
    """An authenticated principal and its buckets: the seconds until each holds a token (0: it held one). Both 0: the
    request took a token from each; else it took nothing."""

    principal: Principal
    workspace_wait_s: float
    key_wait_s: float


class MeteredKeyStore(Protocol):
    def metered_principal(self, key_hash: bytes, budgets: Budgets) -> Metered | None:
        """The principal of an unrevoked key, a token taken from both of its buckets if both hold one (else from
        neither); None for an unknown or revoked key (no bucket is touched)."""
        ...


def admit(metered: Metered) -> Principal:
    """The principal, or THROTTLED naming the workspace's budget when its bucket is empty (every key of it waits),
    else the key's, with the whole seconds until both buckets hold a token (never 0: Retry-After ≥ 1). The refusal
    took nothing, so waiting that long is enough, unless other keys of the workspace spend its tokens meanwhile."""
    wait = max(metered.workspace_wait_s, metered.key_wait_s)
    if wait <= 0:
        return metered.principal
    retry_after = max(1, math.ceil(wait))
    raise Throttled(WORKSPACE if metered.workspace_wait_s > 0 else KEY, retry_after)
