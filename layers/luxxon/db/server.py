"""Server-level SQL: databases and extensions (the local system, the tests and the benches use it)."""

from __future__ import annotations

import psycopg
from psycopg import sql

from luxxon.db.migrate import migrate


def with_dbname(url: str, dbname: str) -> str:
    params = psycopg.conninfo.conninfo_to_dict(url)
    params["dbname"] = dbname
    return psycopg.conninfo.make_conninfo(**params)  # type: ignore[arg-type]


def postgis_available(admin_url: str) -> tuple[bool, int]:
    """Whether the server can CREATE EXTENSION postgis, and its major version (to name the package it needs)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        row = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'").fetchone()
        version = conn.execute("SHOW server_version_num").fetchone()
    assert version is not None
    return row is not None, int(version[0]) // 10000


def create_database(admin_url: str, dbname: str) -> str:
    """Create `dbname` on the server unless it exists, migrate it, and return its URL."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    url = with_dbname(admin_url, dbname)
    migrate(url)
    return url


def drop_database(admin_url: str, dbname: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))
