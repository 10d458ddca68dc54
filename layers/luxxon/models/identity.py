from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from luxxon.models.base import Dto, RequestModel


class Role(StrEnum):
    CONSUMER = "CONSUMER"
    SUPPLIER = "SUPPLIER"


class Availability(StrEnum):
    ONLINE = "ONLINE"
    BUSY = "BUSY"
    OFFLINE = "OFFLINE"


class Scope(StrEnum):
    """What an API key may do (luxxon.routes.SCOPES: the route table requires them)."""

    SESSIONS_CREATE = "sessions:create"
    SESSIONS_READ = "sessions:read"
    SESSIONS_OPERATE = "sessions:operate"
    WORKSPACE_READ = "workspace:read"
    WORKSPACE_ADMIN = "workspace:admin"


# Coverage areas (README "Limits"): bounded so that no request can make PostGIS work for long.
MAX_POLYGONS = 16  # parts of a MultiPolygon
MAX_RINGS = 16  # per polygon: its shell and up to 15 holes
MAX_POSITIONS = 2_000  # in the whole area
# How far an area may reach: every position within this many metres of the area's centroid (great-circle distance,
# checked by PostGIS: lx_coverage_radius_m, migration 0016). The inbox lists every request inside the area, with its
# exact point, so an area is a metropolitan region at most, never a continent.
MAX_COVERAGE_RADIUS_M = 50_000
# PostgreSQL text cannot hold NUL characters, so names exclude them (in the schema, so clients see it).
NO_NUL = r"^[^\x00]*$"

Longitude = Annotated[float, Field(strict=True, ge=-180, le=180, allow_inf_nan=False)]
Latitude = Annotated[float, Field(strict=True, ge=-90, le=90, allow_inf_nan=False)]
Position = tuple[Longitude, Latitude]  # GeoJSON order, 2D
Ring = Annotated[
    list[Position],
    Field(min_length=4, max_length=MAX_POSITIONS, description="A closed ring: its last position repeats its first."),
]
PolygonRings = Annotated[
    list[Ring], Field(min_length=1, max_length=MAX_RINGS, description="The shell, then its holes.")
]


def _closed_and_bounded(polygons: list[list[list[tuple[float, float]]]]) -> None:
    if any(ring[0] != ring[-1] for rings in polygons for ring in rings):
        raise ValueError("every ring must be closed (its last position repeats its first)")
    if sum(len(ring) for rings in polygons for ring in rings) > MAX_POSITIONS:
        raise ValueError(f"a coverage area has at most {MAX_POSITIONS} positions")


class GeoJsonPolygon(RequestModel):
    """A GeoJSON Polygon in WGS84 ([lng, lat] positions)."""

    type: Literal["Polygon"]
    coordinates: PolygonRings

    @model_validator(mode="after")
    def _rings(self) -> GeoJsonPolygon:
        _closed_and_bounded([self.coordinates])
        return self


class GeoJsonMultiPolygon(RequestModel):
    """A GeoJSON MultiPolygon in WGS84 ([lng, lat] positions)."""

    type: Literal["MultiPolygon"]
    coordinates: Annotated[list[PolygonRings], Field(min_length=1, max_length=MAX_POLYGONS)]

    @model_validator(mode="after")
    def _rings(self) -> GeoJsonMultiPolygon:
        _closed_and_bounded(self.coordinates)
        return self


CoverageArea = Annotated[GeoJsonPolygon | GeoJsonMultiPolygon, Field(discriminator="type")]


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
    coverageArea: CoverageArea | None = Field(
        default=None,
        description=f"A valid (OGC) polygon or multipolygon: closed rings, no self-intersection; at most "
        f"{MAX_POLYGONS} polygons of {MAX_RINGS} rings, {MAX_POSITIONS} positions in all, every position within "
        f"{MAX_COVERAGE_RADIUS_M // 1000} km of the area's centroid (great-circle distance); else 400 "
        "input:coverageArea.",
    )
    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=NO_NUL)


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
    name: str = Field(min_length=1, max_length=100, pattern=NO_NUL)
    scopes: list[Scope] = Field(min_length=1)

    @field_validator("scopes")
    @classmethod
    def _distinct(cls, scopes: list[Scope]) -> list[Scope]:
        return sorted(set(scopes))


class LxApiKeyListDto(Dto):
    items: list[LxApiKeyDto]


class LxMeDto(Dto):
    authType: Literal["apiKey"]
    workspaceId: str
    workspace: LxWorkspaceDto | None = Field(
        description="The caller's workspace; null unless the key holds workspace:read or workspace:admin."
    )
    apiKey: LxApiKeyDto
