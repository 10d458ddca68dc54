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


def _conninfo() -> str:
    settings = get_settings()
    if settings.database_secret_arn:
        # In AWS: the RDS-managed secret holds host, port, username, password and dbname.
        from aws_lambda_powertools.utilities import parameters

        secret = parameters.get_secret(settings.database_secret_arn, transform="json", max_age=300)
        assert isinstance(secret, dict)
        return psycopg.conninfo.make_conninfo(
            host=settings.database_host or secret["host"],
            port=secret.get("port", 5432),
            user=secret["username"],
            password=secret["password"],
            dbname=secret.get("dbname", "luxxon"),
            sslmode="require",
        )
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
