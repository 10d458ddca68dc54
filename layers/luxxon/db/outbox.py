"""Outbox rows: claimed with SKIP LOCKED so the request that wrote them and the sweep never deliver one twice."""

from __future__ import annotations

from luxxon.db.connection import connection
from luxxon.domain.ports.outbox import Entry

# A claimed entry is invisible to other claimers for this long (a crashed deliverer's claim lapses).
_CLAIM_S = 60
PRUNE_DELIVERED = "DELETE FROM outbox WHERE delivered_at < clock_timestamp() - make_interval(secs => %s)"


class PgOutboxStore:
    def _claim(self, where: str, params: dict[str, object]) -> list[Entry]:
        rows = (
            connection()
            .execute(
                f"""
                UPDATE outbox o SET available_at = clock_timestamp() + make_interval(secs => {_CLAIM_S}),
                       attempts = o.attempts + 1
                WHERE o.id IN (
                    SELECT id FROM outbox
                    WHERE delivered_at IS NULL AND available_at <= clock_timestamp() AND {where}
                    ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
                RETURNING o.id, o.kind, o.payload, o.attempts
                """,
                params,
            )
            .fetchall()
        )
        return [Entry(**r) for r in sorted(rows, key=lambda r: r["id"])]

    def claim_for_sessions(self, session_ids: list[str]) -> list[Entry]:
        return self._claim("payload->>'sessionId' = ANY(%(ids)s)", {"ids": session_ids, "limit": 1000})

    def claim_due(self, limit: int) -> list[Entry]:
        return self._claim("true", {"limit": limit})

    def mark_delivered(self, entry: Entry) -> bool:
        # Only the current claim holder: a deliverer whose claim lapsed (and was re-claimed) changes nothing.
        cursor = connection().execute(
            "UPDATE outbox SET delivered_at = clock_timestamp(), last_error = NULL"
            " WHERE id = %s AND attempts = %s AND delivered_at IS NULL",
            (entry.id, entry.attempts),
        )
        return cursor.rowcount == 1

    def mark_failed(self, entry: Entry, error: str, retry_in_s: int) -> bool:
        cursor = connection().execute(
            "UPDATE outbox SET last_error = %s, available_at = clock_timestamp() + make_interval(secs => %s)"
            " WHERE id = %s AND attempts = %s AND delivered_at IS NULL",
            (error, retry_in_s, entry.id, entry.attempts),
        )
        return cursor.rowcount == 1

    def prune_delivered(self, older_than_s: int) -> int:
        return connection().execute(PRUNE_DELIVERED, (older_than_s,)).rowcount
