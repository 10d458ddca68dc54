"""One PostgreSQL connection per process, reused across warm invocations, reopened when closed or broken.

A Lambda execution environment runs one invocation at a time, so one connection is all it needs (RDS Proxy
multiplexes them). Statements run in autocommit; a use case that needs several statements opens
`transaction()`, so a single-statement request costs exactly one round trip.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row

from luxxon.config import get_settings

Conn = psycopg.Connection[dict[str, Any]]
_conn: Conn | None = None


def conninfo_from_secret(secret: dict[str, Any], host: str | None = None, **options: Any) -> str:
    """Connection info from an RDS-managed secret (host, port, username, password, dbname), over TLS."""
    return psycopg.conninfo.make_conninfo(
        host=host or secret["host"],
        port=secret.get("port", 5432),
        user=secret["username"],
        password=secret["password"],
        dbname=secret.get("dbname", "luxxon"),
        sslmode="require",
        **options,
    )


def _conninfo() -> str:
    settings = get_settings()
    if settings.database_secret_arn:
        # In AWS: the RDS-managed secret; the host is the RDS Proxy endpoint when one is configured.
        from luxxon.secrets_manager import read_json_secret

        return conninfo_from_secret(read_json_secret(settings.database_secret_arn), settings.database_host)
    return settings.database_url


def connection() -> Conn:
    global _conn  # noqa: PLW0603 - the process-wide connection is the point
    if _conn is None or _conn.closed or _conn.broken:
        _conn = psycopg.connect(
            _conninfo(),
            autocommit=True,
            row_factory=dict_row,
            connect_timeout=get_settings().db_connect_timeout_s,
            application_name="luxxon",
            # Named server-side prepared statements pin a client to one backend behind RDS Proxy.
            prepare_threshold=get_settings().db_prepare_threshold,
        )
    return _conn


@contextmanager
def transaction() -> Iterator[Conn]:
    conn = connection()
    with conn.transaction():
        yield conn


def reset() -> None:
    """Close the process connection (tests switch databases; the next use reconnects)."""
    global _conn  # noqa: PLW0603
    if _conn is not None:
        _conn.close()
    _conn = None
