"""The live rate and quotes (seed tag Pricing: "Live rate + optional pre-quoted rate lock")."""

from __future__ import annotations

from pydantic import Field

from luxxon.models.base import Dto
from luxxon.models.sessions import PointRequest


class QuoteRequest(PointRequest):
    pass


class LxPriceDto(Dto):
    ratePerSecondMicroUsdc: str = Field(description="What a session requested here now would be stamped with.")
    baseRatePerSecondMicroUsdc: str
    supply: int = Field(description="ONLINE suppliers whose coverage area contains the point.")
    demand: int = Field(description="REQUESTED sessions within demandRadiusM, created in the last demandWindowSeconds.")
    demandRadiusM: int
    demandWindowSeconds: int
    lat: float
    lng: float


class LxQuoteDto(Dto):
    quoteId: str
    ratePerSecondMicroUsdc: str
    expiresAt: str
    lat: float
    lng: float
