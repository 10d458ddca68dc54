from __future__ import annotations

import math
from enum import StrEnum
from uuid import UUID

from pydantic import Field, field_validator

from luxxon.domain.states import SessionState
from luxxon.models.base import Dto, RequestModel


class DisconnectReason(StrEnum):
    NETWORK_ERROR = "NETWORK_ERROR"
    STALE_TELEMETRY = "STALE_TELEMETRY"
    OUTSIDE_GEOFENCE = "OUTSIDE_GEOFENCE"


class PointRequest(RequestModel):
    lat: float = Field(strict=True, ge=-90, le=90, description="Latitude of the point (WGS84).", examples=[4.71])
    lng: float = Field(strict=True, ge=-180, le=180, description="Longitude of the point (WGS84).", examples=[-74.07])

    @field_validator("lat", "lng")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value


class CreateSessionRequest(PointRequest):
    quoteId: UUID | None = Field(
        default=None,
        description="A quote from POST /pricing/quotes: the session gets its rate. It must be this workspace's, "
        "unused, unexpired and for a point within 100 m of this one (400 quote:notFound|used|expired|pointMismatch).",
    )
    maxDurationSeconds: int | None = Field(
        default=None,
        strict=True,
        ge=10,
        le=14_400,
        description="Bounds the LIVE meter (worst-case hold). Default 600; must lie in [10, 14400].",
        examples=[300],
    )
    waitTimeoutSeconds: int | None = Field(
        default=None,
        strict=True,
        description="Pre-LIVE wait deadline in seconds. Default 300; the server clamps it to [5, 3600].",
        examples=[300],
    )

    @field_validator("maxDurationSeconds", "waitTimeoutSeconds", mode="before")
    @classmethod
    def _whole_number(cls, value: object) -> object:
        """JSON Schema's `integer` includes 600.0: a number with no fractional part is accepted as that integer
        (never a boolean, never a string)."""
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value


class LxSessionDto(Dto):
    id: str = Field(examples=["b1e2f3a4-5b6c-7d8e-9f0a-1b2c3d4e5f6a"])
    consumerWorkspaceId: str
    operatorWorkspaceId: str | None
    state: SessionState
    maxDurationSeconds: int = Field(examples=[600])
    waitTimeoutSeconds: int = Field(
        examples=[300],
        description="Pre-LIVE wait deadline in seconds. After `createdAt + waitTimeoutSeconds` without a first "
        "decoded frame, the session flips to EXPIRED.",
    )
    ratePerSecondMicroUsdc: str = Field(examples=["1000"], description="Rate per second in µUSDC. String.")
    holdMicroUsdc: str = Field(examples=["600000"], description="Pre-authorized hold in µUSDC.")
    startedAt: str | None
    endedAt: str | None
    cleanSeconds: int = Field(description="Chargeable seconds = (endedAt - startedAt) - union of disconnect windows.")
    chargedMicroUsdc: str = Field(description="Derived: cleanSeconds × ratePerSecondMicroUsdc.")
    settlementTxHash: str | None
    videoBackendRef: str | None = Field(description="Opaque video-backend reference (live_input uid).")
    createdAt: str
    requestedLat: float | None
    requestedLng: float | None
    authorized: bool
    whepUrl: str | None = Field(default=None, description="WebRTC WHEP playback URL (both sides).")
    whipUrl: str | None = Field(default=None, description="WebRTC WHIP publishing URL (operator side only).")


class LxSessionCancelAllResponseDto(Dto):
    count: int = Field(examples=[3], description="Number of sessions cancelled.")
    cancelled: list[str] = Field(description="Cancelled session ids, in createdAt-ascending order (oldest first).")


class LxSessionPageDto(Dto):
    items: list[LxSessionDto]
    nextCursor: str | None = Field(description="Pass as `cursor` to get the next page; null on the last page.")


class LxSessionOfferDto(Dto):
    """A REQUESTED session as the supplier inbox offers it to workspaces that are not parties yet: what deciding
    takes (where, how long, at what rate, until when), not who asked."""

    id: str = Field(examples=["b1e2f3a4-5b6c-7d8e-9f0a-1b2c3d4e5f6a"])
    state: SessionState
    maxDurationSeconds: int = Field(examples=[600])
    waitTimeoutSeconds: int = Field(examples=[300], description="Accept before `createdAt + waitTimeoutSeconds`.")
    ratePerSecondMicroUsdc: str = Field(examples=["1000"], description="Rate per second in µUSDC. String.")
    holdMicroUsdc: str = Field(examples=["600000"], description="Pre-authorized hold in µUSDC.")
    createdAt: str
    requestedLat: float | None
    requestedLng: float | None


class LxSessionOfferPageDto(Dto):
    """The supplier inbox: its `limit` oldest offers (one page: it takes no cursor)."""

    items: list[LxSessionOfferDto]


class LxViewerTokenDto(Dto):
    whepUrl: str = Field(description="WHEP playback URL: anyone holding it can subscribe. A session-scoped secret.")


class LxProducerTokenDto(Dto):
    whipUrl: str = Field(description="WHIP publishing URL: the URL is the publisher's credential. Operator only.")


class LxWebhookAckDto(Dto):
    event: str
    effect: str = Field(description="What the event changed: windowOpened, windowClosed or none.")
