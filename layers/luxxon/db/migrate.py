"""Apply the SQL migrations in order, each once, tracked in `schema_migrations`. Safe to run twice.

python -m luxxon.db.migrate            # uses DATABASE_URL
"""

from __future__ import annotations

import sys
from pathlib import Path

import psycopg

from luxxon.config import get_settings

MIGRATIONS = Path(__file__).with_name("migrations")
_LOCK_KEY = 0x4C58_4D49  # "LXMI": one migrator at a time


def migrate(conninfo: str) -> list[str]:
    """Apply pending migrations; returns the versions applied now."""
    applied: list[str] = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        # The application's statement and lock timeouts (0007) are database defaults; DDL is not bound by them.
        conn.execute("SET statement_timeout = 0")
        conn.execute("SET lock_timeout = 0")
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT clock_timestamp())"
        )
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        for path in sorted(MIGRATIONS.glob("*.sql")):
            version = path.stem
            if version in done:
                continue
            with conn.transaction():
                conn.execute(path.read_text())
                conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
            applied.append(version)
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied


def main() -> int:
    applied = migrate(get_settings().database_url)
    print(f"migrations applied: {', '.join(applied) if applied else 'none (up to date)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
