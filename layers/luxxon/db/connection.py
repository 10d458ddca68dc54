"""One PostgreSQL connection per process, reused across warm invocations, reopened when closed, broken or dead.

A Lambda execution environment runs one invocation at a time, so one connection is all it needs (RDS Proxy
multiplexes them). Statements run in autocommit; a use case that needs several statements opens
`transaction()`, so a single-statement request costs exactly one round trip.

Faults. Before each use, an idle connection the server has written to (the FATAL it sends when it shuts down, or
EOF) is known dead without a round trip (one non-blocking poll) and is replaced, so a restarted server costs no
request. A read outside a transaction that still meets a dead connection is retried once on a fresh one
(`fetch_one`/`fetch_all`); a write whose outcome is unknown is never retried here (the caller gets 503 and may
retry with its Idempotency-Key). TCP keepalives and `tcp_user_timeout` bound how long a half-open connection can
hang; statement and lock timeouts are database defaults (migration 0007), not per-connection SETs, which would
pin the connection behind RDS Proxy.
"""

from __future__ import annotations

import select
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
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


def _usable(conn: Conn) -> bool:
    """False when the connection is closed, broken, or idle with something to read (the server hung up)."""
    if conn.closed or conn.broken:
        return False
    if conn.info.transaction_status != TransactionStatus.IDLE:
        return True  # in use by a transaction: its statements will tell
    poller = select.poll()  # not select(): it cannot watch a descriptor above 1024
    try:
        poller.register(conn.fileno(), select.POLLIN)
        events = poller.poll(0)
    except (OSError, ValueError):
        return False
    return not events


def connection() -> Conn:
    global _conn  # noqa: PLW0603 - the process-wide connection is the point
    if _conn is None or not _usable(_conn):
        if _conn is not None:
            _conn.close()
        settings = get_settings()
        _conn = psycopg.connect(
            _conninfo(),
            autocommit=True,
            row_factory=dict_row,
            connect_timeout=settings.db_connect_timeout_s,
            application_name="luxxon",
            # libpq socket options (not session state): notice a dead peer while idle, give up on unacknowledged data
            tcp_user_timeout=settings.db_tcp_user_timeout_ms,
            keepalives=1,
            keepalives_idle=30,
            keepalives_interval=10,
            keepalives_count=3,
            # Named server-side prepared statements pin a client to one backend behind RDS Proxy.
            prepare_threshold=settings.db_prepare_threshold,
        )
    return _conn


def _read(sql: str, params: Any, one: bool) -> Any:
    for attempt in (1, 2):
        conn = connection()
        in_transaction = conn.info.transaction_status != TransactionStatus.IDLE
        try:
            cursor = conn.execute(sql, params)
            return cursor.fetchone() if one else cursor.fetchall()
        except psycopg.OperationalError:
            if attempt == 2 or in_transaction or not conn.broken:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def fetch_one(sql: str, params: Any = None) -> dict[str, Any] | None:
    """A read: retried once on a fresh connection when the one it used turned out dead (outside a transaction)."""
    row: dict[str, Any] | None = _read(sql, params, one=True)
    return row


def fetch_all(sql: str, params: Any = None) -> list[dict[str, Any]]:
    """A read: retried once on a fresh connection when the one it used turned out dead (outside a transaction)."""
    rows: list[dict[str, Any]] = _read(sql, params, one=False)
    return rows


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
