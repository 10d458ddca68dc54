"""The live rate's inputs around a point, and quotes."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class PriceInputs:
    supply: int  # ONLINE suppliers whose coverage contains the point
    demand: int  # REQUESTED sessions nearby, created recently


@dataclass(frozen=True, slots=True)
class QuoteFacts:
    """A quote as a create finds it (its row locked)."""

    workspace_id: str
    rate: int
    used: bool
    expired: bool
    distance_m: float  # from the point the session requests


class PricingStore(Protocol):
    def atomic(self) -> AbstractContextManager[None]:
        """A unit of work: every call inside runs in one transaction (committed on exit, rolled back on error)."""
        ...

    def inputs(self, lat: float, lng: float, radius_m: int, window_s: int) -> PriceInputs: ...
    def create_quote(self, workspace_id: str, lat: float, lng: float, rate: int, ttl_s: int) -> dict[str, Any]:
        """The new quote's row: id, rate_per_second_micro_usdc, expires_at, and `token` (its consistency token)."""
        ...

    def lock_quote(self, quote_id: str, lat: float, lng: float) -> QuoteFacts | None: ...
    def use_quote(self, quote_id: str) -> None: ...
