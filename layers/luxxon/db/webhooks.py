"""Webhook receipts (replay protection)."""

from __future__ import annotations

from luxxon.db.connection import connection


class PgReceiptStore:
    def remember(self, signature_sha256: bytes, event: str, input_id: str | None) -> bool:
        row = (
            connection()
            .execute(
                "INSERT INTO webhook_receipts (signature_sha256, event, input_id) VALUES (%s, %s, %s)"
                " ON CONFLICT DO NOTHING RETURNING 1",
                (signature_sha256, event, input_id),
            )
            .fetchone()
        )
        return row is not None
