"""Rate limits: every API key and every workspace has a budget of requests (a token bucket).

The budget is policy and lives here. The store spends from the buckets in the one statement that authenticates the
request (no extra round trip, and the state is in the database, so the limit holds across every Lambda instance),
and reports how long the caller must wait when a bucket was empty; this module turns that into 429 THROTTLED.
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
    """An authenticated principal and what its request cost: seconds to wait for each bucket (0 within budget)."""

    principal: Principal
    workspace_wait_s: float
    key_wait_s: float


class MeteredKeyStore(Protocol):
    def metered_principal(self, key_hash: bytes, budgets: Budgets) -> Metered | None:
        """The principal of an unrevoked key, its buckets spent; None for an unknown or revoked key."""
        ...


def admit(metered: Metered) -> Principal:
    """The principal, or THROTTLED with a whole number of seconds to wait (never 0: Retry-After ≥ 1)."""
    if metered.workspace_wait_s > 0:
        raise Throttled(WORKSPACE, max(1, math.ceil(metered.workspace_wait_s)))
    if metered.key_wait_s > 0:
        raise Throttled(KEY, max(1, math.ceil(metered.key_wait_s)))
    return metered.principal
