"""Pricing: the live per-second rate at a point, and the hold it implies.

    rate = clamp(base × (demand + 1) / (supply + 1), base × floor %, base × ceiling %)   (integer µUSDC, rounded down)

- `base`: the configured base rate (`LX_BASE_RATE_MICRO_USDC`, µUSDC per second);
- `supply`: ONLINE suppliers whose coverage area contains the point (they could take a session there now);
- `demand`: sessions still REQUESTED within `demand_radius_m` of the point, created in the last `demand_window_s`;
- the bounds: `price_floor_percent` (50) and `price_ceiling_percent` (300) of the base.

With the default bounds: one supplier and no waiting request gives base / 2; as many requests as suppliers, the
base; a crowd with nobody to serve it, up to 3× the base. The same inputs always give the same rate:
`GET /pricing/rate` shows them, `POST /pricing/quotes` locks the result, and `POST /sessions` stamps it (or the
quote's) on the session.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from uuid import UUID

from luxxon.domain.idempotency import Idempotency, IdempotencyKey
from luxxon.domain.ports.pricing import PriceInputs
from luxxon.domain.results import Written
from luxxon.errors import ErrorCode, LxError
from luxxon.models.base import iso_ms
from luxxon.models.pricing import LxPriceDto, LxQuoteDto

if TYPE_CHECKING:
    from luxxon.config import Settings
    from luxxon.domain.ports.pricing import PricingStore
    from luxxon.domain.ports.workspaces import Principal


def spot_rate_micro_usdc(base: int, inputs: PriceInputs, floor_percent: int, ceiling_percent: int) -> int:
    """The rate for these inputs (deterministic, integer µUSDC per second); the bounds in % of `base`."""
    raw = base * (inputs.demand + 1) // (inputs.supply + 1)
    return min(max(raw, base * floor_percent // 100), base * ceiling_percent // 100)


def hold_micro_usdc(rate_per_second_micro_usdc: int, max_duration_seconds: int) -> int:
    """Worst-case charge: the whole max duration at the stamped rate."""
    return rate_per_second_micro_usdc * max_duration_seconds


@dataclass(frozen=True, slots=True)
class Price:
    rate_per_second_micro_usdc: int
    inputs: PriceInputs


class PricingService:
    """The live rate (`GET /pricing/rate`), quotes (`POST /pricing/quotes`) and the rate a new session gets."""

    def __init__(self, store: PricingStore, settings: Settings, idempotency: Idempotency | None = None) -> None:
        self.store = store
        self.settings = settings
        self.idempotency = idempotency or Idempotency(None)

    def price_at(self, lat: float, lng: float) -> Price:
        s = self.settings
        inputs = self.store.inputs(lat, lng, s.demand_radius_m, s.demand_window_s)
        rate = spot_rate_micro_usdc(s.base_rate_micro_usdc, inputs, s.price_floor_percent, s.price_ceiling_percent)
        return Price(rate, inputs)

    def rate(self, lat: float, lng: float) -> LxPriceDto:
        s, price = self.settings, self.price_at(lat, lng)
        return LxPriceDto(
            ratePerSecondMicroUsdc=str(price.rate_per_second_micro_usdc),
            baseRatePerSecondMicroUsdc=str(s.base_rate_micro_usdc),
            supply=price.inputs.supply,
            demand=price.inputs.demand,
            demandRadiusM=s.demand_radius_m,
            demandWindowSeconds=s.demand_window_s,
            lat=lat,
            lng=lng,
        )

    def quote(
        self, principal: Principal, lat: float, lng: float, idem: IdempotencyKey | None = None
    ) -> Written[LxQuoteDto]:
        """A new quote: the live rate at the point, locked for `quote_ttl_s`. A quote is a row (POST /sessions uses
        it up), so a retry with the same Idempotency-Key replays the first quote, expired or not, and creates none."""
        with self.store.atomic():
            if (replay := self.idempotency.replay(idem, LxQuoteDto)) is not None:
                return replay
            price = self.price_at(lat, lng)
            row = self.store.create_quote(
                principal.workspace_id, lat, lng, price.rate_per_second_micro_usdc, self.settings.quote_ttl_s
            )
            quote = LxQuoteDto(
                quoteId=row["id"],
                ratePerSecondMicroUsdc=str(row["rate_per_second_micro_usdc"]),
                expiresAt=iso_ms(row["expires_at"]) or "",
                lat=lat,
                lng=lng,
            )
            return self.idempotency.remember(idem, Written(quote, row["token"]))

    def use_quote(self, principal: Principal, quote_id: UUID, lat: float, lng: float) -> int:
        """Inside the create's unit of work: the quote's rate, the quote consumed with the session's creation.
        Refused (400 `quote:<why>`) unless it is the caller's, unused, unexpired and for a point within
        `quote_tolerance_m` of the requested one. (Its shape, a UUID, is the request model's: 400 `input:quoteId`.)"""
        facts = self.store.lock_quote(str(quote_id), lat, lng)
        if facts is None or facts.workspace_id != principal.workspace_id:
            raise LxError(ErrorCode.INVALID_INPUT, "quote:notFound")
        if facts.used:
            raise LxError(ErrorCode.INVALID_INPUT, "quote:used")
        if facts.expired:
            raise LxError(ErrorCode.INVALID_INPUT, "quote:expired")
        if facts.distance_m > self.settings.quote_tolerance_m:
            raise LxError(ErrorCode.INVALID_INPUT, "quote:pointMismatch")
        self.store.use_quote(str(quote_id))
        return facts.rate
