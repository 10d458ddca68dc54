"""Pricing: the rate stamped on a session at creation (immutable afterwards)."""

from __future__ import annotations


def spot_rate_micro_usdc(lat: float, lng: float, base_rate_micro_usdc: int) -> int:
    """The live per-second rate at a point. Today: the configured base rate everywhere."""
    del lat, lng  # live, location-aware pricing arrives with quotes
    return base_rate_micro_usdc


def hold_micro_usdc(rate_per_second_micro_usdc: int, max_duration_seconds: int) -> int:
    """Worst-case charge: the whole max duration at the stamped rate."""
    return rate_per_second_micro_usdc * max_duration_seconds
