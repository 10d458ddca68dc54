from __future__ import annotations

from datetime import UTC, datetime
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field


def iso_ms(value: datetime | None) -> str | None:
    """The API's timestamp format: UTC, millisecond precision, `Z` suffix (2026-05-13T12:00:00.000Z)."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso() -> str:
    return iso_ms(datetime.now(UTC)) or ""


class Dto(BaseModel):
    """Response DTOs: built from trusted data, serialized with camelCase names."""

    model_config = ConfigDict(populate_by_name=True, frozen=True)


class RequestModel(BaseModel):
    """Request bodies: unknown fields are an error, so typos never pass silently."""

    model_config = ConfigDict(extra="forbid")


T = TypeVar("T")


class LxSuccessResponseDto(BaseModel, Generic[T]):
    statusCode: int = 200
    message: str = "Request successful"
    data: T
    timestamp: str = Field(default_factory=now_iso)


class LxErrorResponseDto(BaseModel):
    statusCode: int = Field(examples=[400])
    code: str = Field(examples=["INVALID_INPUT"], description="Machine-readable error code — see ErrorCodes.")
    message: str = Field(examples=["Invalid request payload"])
    detail: str | None = Field(
        default=None,
        examples=["session:workspaceMismatch"],
        description="Short, safe-to-expose label scoping the failure site.",
    )
    timestamp: str = Field(examples=["2026-05-13T12:00:00.000Z"])
