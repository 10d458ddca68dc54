"""The outbox (luxxon/domain/outbox.py, luxxon/db/outbox.py): claims, fencing, delivery, pruning."""

from __future__ import annotations

import psycopg
import pytest

from luxxon.db.outbox import PgOutboxStore
from luxxon.domain.outbox import OutboxService


@pytest.fixture
def entry_id(database_url: str) -> int:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO outbox (kind, payload) VALUES ('test.kind', '{\"sessionId\": \"none\"}') RETURNING id"
        ).fetchone()
    assert row is not None
    return int(row[0])


def lapse_claims(database_url: str, entry_id: int) -> None:
    """The claim lease (60 s) runs out, as it would for a deliverer that hung."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE outbox SET available_at = now() - interval '1 second' WHERE id = %s", (entry_id,))


def test_a_deliverer_whose_claim_lapsed_cannot_mark_the_entry_delivered(database_url: str, entry_id: int) -> None:
    # Given a deliverer claimed the entry and hung past its claim, and a second one claimed it since
    store = PgOutboxStore()
    (first,) = [e for e in store.claim_due(100) if e.id == entry_id]
    lapse_claims(database_url, entry_id)
    (second,) = [e for e in store.claim_due(100) if e.id == entry_id]
    # When the first one comes back and reports delivery (or failure)
    # Then nothing changes: only the current claim holder records the outcome
    assert store.mark_delivered(first) is False
    assert store.mark_failed(first, "late", 1) is False
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT delivered_at FROM outbox WHERE id = %s", (entry_id,)).fetchone() == (None,)
    assert store.mark_delivered(second) is True


def test_an_entry_is_handed_to_its_handler_once_and_pruned_after_the_retention(
    database_url: str, entry_id: int
) -> None:
    delivered: list[dict] = []
    outbox = OutboxService(PgOutboxStore(), {"test.kind": delivered.append})
    assert outbox.drain(limit=1000) >= 1
    assert outbox.drain(limit=1000) == 0
    assert delivered.count({"sessionId": "none"}) >= 1
    # Delivered entries are kept for the retention, then pruned
    assert outbox.prune(older_than_s=3600) == 0
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE outbox SET delivered_at = now() - interval '2 hours' WHERE id = %s", (entry_id,))
    assert outbox.prune(older_than_s=3600) >= 1
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM outbox WHERE id = %s", (entry_id,)).fetchone() == (0,)
