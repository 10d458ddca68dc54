"""Runtime settings: one pydantic-settings model behind a cached getter, read on first use."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LX_", extra="ignore")

    # PostgreSQL + PostGIS. In AWS this is the RDS Proxy endpoint; the password comes from Secrets Manager.
    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/luxxon",
        validation_alias="DATABASE_URL",
    )
    database_secret_arn: str | None = None
    db_connect_timeout_s: int = 5
    # Pricing: the spot rate until live pricing lands.
    base_rate_micro_usdc: int = Field(default=1000, ge=0)
    # Session bounds (documented in README).
    min_duration_seconds: int = 10
    max_duration_seconds: int = 14_400
    default_duration_seconds: int = 600
    default_wait_timeout_seconds: int = 300
    min_wait_timeout_seconds: int = 5
    max_wait_timeout_seconds: int = 3_600
    default_geofence_radius_m: int = 150


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
