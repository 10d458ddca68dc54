"""Webhook receipts (replay protection)."""

from __future__ import annotations

from luxxon.db.connection import connection


class PgReceiptStore:
    def seen(self, receipt: bytes) -> bool:
        found = connection().execute("SELECT 1 FROM webhook_receipts WHERE signature_sha256 = %s", (receipt,))
        return found.fetchone() is not None

    def remember(self, receipt: bytes, event: str, input_id: str | None) -> bool:
        row = (
            connection()
            .execute(
                "INSERT INTO webhook_receipts (signature_sha256, event, input_id) VALUES (%s, %s, %s)"
                " ON CONFLICT DO NOTHING RETURNING 1",
                (receipt, event, input_id),
            )
            .fetchone()
        )
        return row is not None
