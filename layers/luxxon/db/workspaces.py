"""Workspace and API-key statements (`ports.workspaces.WorkspaceStore`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from luxxon.db.connection import connection, transaction
from luxxon.domain.ports.workspaces import NewKey, Principal
from luxxon.domain.ratelimit import Budgets, Metered

_WORKSPACE = """
    w.id::text, w.name, w.roles, w.availability, ST_AsGeoJSON(w.coverage_area, 7)::jsonb AS coverage_area,
    w.wallet_address, w.created_at
"""
_KEY = "k.id::text, k.name, k.prefix, k.scopes, k.created_at, k.revoked_at"
_TOKEN = "pg_current_xact_id()::text AS token"


class PgWorkspaceStore:
    @contextmanager
    def atomic(self) -> Iterator[None]:
        with transaction():
            yield

    def principal_by_key_hash(self, key_hash: bytes) -> Principal | None:
        row = connection().execute("SELECT * FROM lx_principal(%s)", (key_hash,)).fetchone()
        if row is None:
            return None
        return Principal(
            workspace_id=row["workspace_id"],
            key_id=row["key_id"],
            scopes=frozenset(row["scopes"]),
            roles=frozenset(row["roles"]),
        )

    def metered_principal(self, key_hash: bytes, budgets: Budgets) -> Metered | None:
        """`ratelimit.MeteredKeyStore`: authenticate and spend the buckets in one statement (migrations 0006, 0015)."""
        row = (
            connection()
            .execute(
                "SELECT * FROM lx_principal_metered(%s, %s, %s, %s, %s)",
                (
                    key_hash,
                    budgets.workspace.per_second,
                    budgets.workspace.burst,
                    budgets.key.per_second,
                    budgets.key.burst,
                ),
            )
            .fetchone()
        )
        if row is None:
            return None
        principal = Principal(
            workspace_id=row["workspace_id"],
            key_id=row["key_id"],
            scopes=frozenset(row["scopes"]),
            roles=frozenset(row["roles"]),
        )
        return Metered(principal, row["workspace_wait_s"], row["key_wait_s"])

    def create_workspace(
        self,
        name: str,
        roles: list[str],
        availability: str,
        wallet_address: str | None,
        coverage_geojson: dict[str, Any] | None,
        coverage_circle: tuple[float, float, float] | None,
    ) -> dict[str, Any]:
        row = (
            connection()
            .execute(
                f"""
                INSERT INTO workspaces AS w
                    (name, roles, availability, chosen_availability, wallet_address, coverage_area)
                VALUES (%(name)s, %(roles)s, %(availability)s,
                        CASE WHEN %(availability)s::text = 'OFFLINE' THEN 'OFFLINE' ELSE 'ONLINE' END, %(wallet)s,
                        CASE
                          WHEN %(geojson)s::text IS NOT NULL
                            THEN ST_Multi(ST_GeomFromGeoJSON(%(geojson)s::text))::geography
                          WHEN %(lat)s::float8 IS NOT NULL
                            THEN ST_Multi(ST_Buffer(ST_SetSRID(ST_MakePoint(%(lng)s, %(lat)s), 4326)::geography,
                                                    %(radius)s)::geometry)::geography
                        END)
                RETURNING {_WORKSPACE}
                """,
                {
                    "name": name,
                    "roles": roles,
                    "availability": availability,
                    "wallet": wallet_address,
                    "geojson": json.dumps(coverage_geojson) if coverage_geojson else None,
                    "lat": coverage_circle[0] if coverage_circle else None,
                    "lng": coverage_circle[1] if coverage_circle else None,
                    "radius": coverage_circle[2] if coverage_circle else None,
                },
            )
            .fetchone()
        )
        assert row is not None
        return row

    def set_wallet(self, workspace_id: str, wallet_address: str) -> dict[str, Any] | None:
        return (
            connection()
            .execute(
                f"UPDATE workspaces w SET wallet_address = %s, updated_at = clock_timestamp() WHERE w.id = %s"
                f" RETURNING {_WORKSPACE}",
                (wallet_address, workspace_id),
            )
            .fetchone()
        )

    def get_workspace(self, workspace_id: str) -> dict[str, Any] | None:
        return (
            connection().execute(f"SELECT {_WORKSPACE} FROM workspaces w WHERE w.id = %s", (workspace_id,)).fetchone()
        )

    def measure_coverage(self, geojson: dict[str, Any]) -> float | None:
        """How far the area (as it would be stored) reaches from its centroid, in metres (`lx_coverage_radius_m`,
        migration 0016); None when PostGIS cannot read it or it is not valid, non-empty OGC geometry."""
        try:
            row = (
                connection()
                .execute(
                    """
                    SELECT CASE WHEN ST_IsValid(g) AND NOT ST_IsEmpty(g)
                                THEN lx_coverage_radius_m(ST_Multi(g)::geography) END AS radius_m
                    FROM (SELECT ST_GeomFromGeoJSON(%s::text) AS g) x
                    """,
                    (json.dumps(geojson),),
                )
                .fetchone()
            )
        except psycopg.DataError:
            return None  # PostGIS could not parse it
        except psycopg.errors.InternalError_:
            return None  # nor measure it on the sphere (an antipodal edge)
        return None if row is None or row["radius_m"] is None else float(row["radius_m"])

    def update_workspace(
        self, workspace_id: str, name: str | None, availability: str | None, coverage_geojson: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        # BUSY is owned by the session lifecycle: an ONLINE/OFFLINE request never overwrites it, and is kept as the
        # operator's choice, which the release puts back (PgSessionStore.release_if_idle).
        return (
            connection()
            .execute(
                f"""
                UPDATE workspaces w SET
                    name = coalesce(%(name)s, w.name),
                    availability = CASE WHEN %(availability)s::text IS NULL OR w.availability = 'BUSY'
                                        THEN w.availability ELSE %(availability)s END,
                    chosen_availability = coalesce(%(availability)s, w.chosen_availability),
                    coverage_area = CASE WHEN %(geojson)s::text IS NULL THEN w.coverage_area
                                         ELSE ST_Multi(ST_GeomFromGeoJSON(%(geojson)s::text))::geography END,
                    updated_at = clock_timestamp()
                WHERE w.id = %(id)s
                RETURNING {_WORKSPACE}, {_TOKEN}
                """,
                {
                    "id": workspace_id,
                    "name": name,
                    "availability": availability,
                    "geojson": json.dumps(coverage_geojson) if coverage_geojson else None,
                },
            )
            .fetchone()
        )

    def create_key(self, workspace_id: str, name: str, scopes: list[str], key: NewKey) -> dict[str, Any]:
        row = (
            connection()
            .execute(
                f"INSERT INTO api_keys AS k (workspace_id, name, prefix, key_hash, scopes)"
                f" VALUES (%s, %s, %s, %s, %s) RETURNING {_KEY}, {_TOKEN}",
                (workspace_id, name, key.prefix, key.key_hash, scopes),
            )
            .fetchone()
        )
        assert row is not None
        return row

    def get_key(self, workspace_id: str, key_id: str) -> dict[str, Any] | None:
        return (
            connection()
            .execute(f"SELECT {_KEY} FROM api_keys k WHERE k.id = %s AND k.workspace_id = %s", (key_id, workspace_id))
            .fetchone()
        )

    def list_keys(self, workspace_id: str) -> list[dict[str, Any]]:
        return (
            connection()
            .execute(f"SELECT {_KEY} FROM api_keys k WHERE k.workspace_id = %s ORDER BY k.created_at", (workspace_id,))
            .fetchall()
        )

    def revoke_key(self, workspace_id: str, key_id: str) -> dict[str, Any] | None:
        return (
            connection()
            .execute(
                f"UPDATE api_keys k SET revoked_at = coalesce(k.revoked_at, clock_timestamp())"
                f" WHERE k.id = %s AND k.workspace_id = %s RETURNING {_KEY}, {_TOKEN}",
                (key_id, workspace_id),
            )
            .fetchone()
        )
