"""Idempotency-key statements (`ports.idempotency.IdempotencyStore`), run inside the unit of work of the effect
they guard."""

from __future__ import annotations

from typing import Any

from luxxon.db.connection import connection
from luxxon.domain.ports.idempotency import IdempotencyRecord

# A key is claimed with a row that commits with the effect. A concurrent request with the same key waits on the
# primary key until the first commits (or rolls back, and then claims it itself). A record older than the retention
# is taken over as if new.
_CLAIM = """
INSERT INTO idempotency_keys AS k (workspace_id, key, fingerprint)
VALUES (%(ws)s, %(key)s, %(fingerprint)s)
ON CONFLICT (workspace_id, key) DO UPDATE
    SET fingerprint = EXCLUDED.fingerprint, response = NULL, token = NULL, created_at = clock_timestamp()
    WHERE k.created_at < clock_timestamp() - make_interval(secs => %(keep)s)
RETURNING 1
"""
PRUNE = "DELETE FROM idempotency_keys WHERE created_at < clock_timestamp() - make_interval(secs => %s)"


class PgIdempotencyStore:
    def __init__(self, keep_s: int) -> None:
        self.keep_s = keep_s

    def claim(self, workspace_id: str, key: str, fingerprint: bytes) -> IdempotencyRecord | None:
        params: dict[str, Any] = {"ws": workspace_id, "key": key, "fingerprint": fingerprint, "keep": self.keep_s}
        if connection().execute(_CLAIM, params).fetchone() is not None:
            return None
        row = (
            connection()
            .execute(
                "SELECT fingerprint, response, token FROM idempotency_keys WHERE workspace_id = %s AND key = %s",
                (workspace_id, key),
            )
            .fetchone()
        )
        assert row is not None  # it conflicted, and only the retention prune deletes keys
        return IdempotencyRecord(bytes(row["fingerprint"]), row["response"], row["token"])

    def complete(self, workspace_id: str, key: str, response: str, token: str | None) -> None:
        connection().execute(
            "UPDATE idempotency_keys SET response = %s::jsonb, token = %s WHERE workspace_id = %s AND key = %s",
            (response, token, workspace_id, key),
        )

    def prune(self) -> int:
        return connection().execute(PRUNE, (self.keep_s,)).rowcount
