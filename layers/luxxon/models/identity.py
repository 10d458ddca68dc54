from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, field_validator

from luxxon.models.base import Dto, RequestModel


class Role(StrEnum):
    CONSUMER = "CONSUMER"
    SUPPLIER = "SUPPLIER"


class Availability(StrEnum):
    ONLINE = "ONLINE"
    BUSY = "BUSY"
    OFFLINE = "OFFLINE"


class GeoJsonPolygon(RequestModel):
    """A GeoJSON Polygon or MultiPolygon in WGS84 ([lng, lat] positions)."""

    type: Literal["Polygon", "MultiPolygon"]
    coordinates: list[Any]


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
