from __future__ import annotations

import math
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from luxxon.models.base import Dto, RequestModel


class Role(StrEnum):
    CONSUMER = "CONSUMER"
    SUPPLIER = "SUPPLIER"


class Availability(StrEnum):
    ONLINE = "ONLINE"
    BUSY = "BUSY"
    OFFLINE = "OFFLINE"


class GeoJsonPolygon(RequestModel):
    """A GeoJSON Polygon or MultiPolygon in WGS84 ([lng, lat] positions, 2D)."""

    type: Literal["Polygon", "MultiPolygon"]
    coordinates: list[Any]

    @model_validator(mode="after")
    def _positions(self) -> GeoJsonPolygon:
        polygons = self.coordinates if self.type == "MultiPolygon" else [self.coordinates]
        if not polygons or not all(_is_polygon(p) for p in polygons):
            raise ValueError("rings of at least 4 [lng, lat] positions with lng in [-180, 180], lat in [-90, 90]")
        return self


def _is_position(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value)
        and -180 <= value[0] <= 180
        and -90 <= value[1] <= 90
    )


def _is_polygon(rings: Any) -> bool:
    return (
        isinstance(rings, list)
        and bool(rings)
        and all(isinstance(r, list) and len(r) >= 4 and all(_is_position(p) for p in r) for r in rings)
    )


def _no_nul(value: str | None) -> str | None:
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


class LxWorkspaceDto(Dto):
    id: str
    name: str
    roles: list[Role]
    availability: Availability
    coverageArea: dict[str, Any] | None = Field(description="GeoJSON MultiPolygon, or null when not set.")
    walletAddress: str | None
    createdAt: str


class UpdateWorkspaceRequest(RequestModel):
    availability: Literal["ONLINE", "OFFLINE"] | None = Field(
        default=None, description="ONLINE or OFFLINE. BUSY is set by the system while a session is started."
    )
    coverageArea: GeoJsonPolygon | None = None
    name: str | None = Field(default=None, min_length=1, max_length=200)

    _names = field_validator("name")(_no_nul)


class LxApiKeyDto(Dto):
    id: str
    name: str
    prefix: str = Field(description="The first characters of the key, to recognise it.")
    scopes: list[str]
    createdAt: str
    revokedAt: str | None


class LxCreatedApiKeyDto(LxApiKeyDto):
    key: str = Field(description="The secret key. Shown once; store it now.")


class CreateApiKeyRequest(RequestModel):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] = Field(min_length=1)

    _names = field_validator("name")(_no_nul)

    @field_validator("scopes")
    @classmethod
    def _known(cls, scopes: list[str]) -> list[str]:
        from luxxon.routes import SCOPES

        unknown = sorted(set(scopes) - set(SCOPES))
        if unknown:
            raise ValueError(f"unknown scopes {unknown}; known: {list(SCOPES)}")
        return sorted(set(scopes))


class LxApiKeyListDto(Dto):
    items: list[LxApiKeyDto]


class LxMeDto(Dto):
    authType: Literal["apiKey"]
    workspace: LxWorkspaceDto
    apiKey: LxApiKeyDto
