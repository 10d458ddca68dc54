"""Pricing statements: the live rate's inputs around a point, and quotes (`ports.pricing.PricingStore`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from luxxon.db.connection import connection, fetch_one, transaction
from luxxon.domain.ports.pricing import PriceInputs, QuoteFacts
from luxxon.domain.states import SessionState, sql_in

_POINT = "ST_SetSRID(ST_MakePoint(%(lng)s, %(lat)s), 4326)::geography"
# Each count can use its partial GiST index: the predicates are the indexes' own (migration 0001).
PRICE_INPUTS = f"""
    SELECT (SELECT count(*) FROM workspaces w
            WHERE w.availability = 'ONLINE' AND 'SUPPLIER' = ANY (w.roles)
              AND ST_Intersects(w.coverage_area, {_POINT})) AS supply,
           (SELECT count(*) FROM sessions s
            WHERE s.state IN ({sql_in({SessionState.REQUESTED})})
              AND ST_DWithin(s.requested_at_point, {_POINT}, %(radius)s)
              AND s.created_at > clock_timestamp() - make_interval(secs => %(window)s)) AS demand
"""


class PgPricingStore:
    @contextmanager
    def atomic(self) -> Iterator[None]:
        with transaction():
            yield

    def inputs(self, lat: float, lng: float, radius_m: int, window_s: int) -> PriceInputs:
        row = fetch_one(PRICE_INPUTS, {"lat": lat, "lng": lng, "radius": radius_m, "window": window_s})
        assert row is not None
        return PriceInputs(supply=int(row["supply"]), demand=int(row["demand"]))

    def create_quote(self, workspace_id: str, lat: float, lng: float, rate: int, ttl_s: int) -> dict[str, Any]:
        row = (
            connection()
            .execute(
                f"""
                INSERT INTO quotes (consumer_workspace_id, point, rate_per_second_micro_usdc, expires_at)
                VALUES (%(ws)s, {_POINT}, %(rate)s, clock_timestamp() + make_interval(secs => %(ttl)s))
                RETURNING id::text, rate_per_second_micro_usdc, expires_at, pg_current_xact_id()::text AS token
                """,
                {"ws": workspace_id, "lat": lat, "lng": lng, "rate": rate, "ttl": ttl_s},
            )
            .fetchone()
        )
        assert row is not None
        return row

    def lock_quote(self, quote_id: str, lat: float, lng: float) -> QuoteFacts | None:
        """Inside a unit of work: the quote's row locked (a concurrent create with it waits, then finds it used)."""
        row = (
            connection()
            .execute(
                f"""
                SELECT consumer_workspace_id::text AS workspace_id, rate_per_second_micro_usdc AS rate,
                       consumed_at IS NOT NULL AS used, expires_at <= clock_timestamp() AS expired,
                       ST_Distance(point, {_POINT}) AS distance_m
                FROM quotes WHERE id = %(id)s FOR UPDATE
                """,
                {"id": quote_id, "lat": lat, "lng": lng},
            )
            .fetchone()
        )
        return None if row is None else QuoteFacts(**row)

    def use_quote(self, quote_id: str) -> None:
        connection().execute("UPDATE quotes SET consumed_at = clock_timestamp() WHERE id = %s", (quote_id,))
