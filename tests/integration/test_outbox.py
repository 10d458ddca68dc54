"""The outbox (luxxon/domain/outbox.py, luxxon/db/outbox.py): claims, fencing, delivery, pruning.

`claim_due` takes any due row, whoever wrote it: each test here runs on a database of its own, so what it claims,
delivers and prunes is exactly what it wrote (in the run's shared database other tests leave due rows, and a claim
there would take, and fail, theirs).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from luxxon.config import get_settings
from luxxon.db import connection, server
from luxxon.db.outbox import PgOutboxStore
from luxxon.domain.outbox import OutboxService

PAYLOAD = {"sessionId": "none"}


@pytest.fixture
def own_database(database_url: str) -> Iterator[str]:
    """A migrated database of this test's own, the data layer's until the test ends."""
    admin = server.with_dbname(database_url, "postgres")
    name = f"lx_outbox_{uuid.uuid4().hex[:8]}"
    url = server.create_database(admin, name)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DATABASE_URL", url)
        get_settings.cache_clear()
        connection.reset()
        yield url
    get_settings.cache_clear()
    connection.reset()
    server.drop_database(admin, name)


@pytest.fixture
def entry_id(own_database: str) -> int:
    with psycopg.connect(own_database, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO outbox (kind, payload) VALUES ('test.kind', '{\"sessionId\": \"none\"}') RETURNING id"
        ).fetchone()
    assert row is not None
    return int(row[0])


def lapse_claims(database_url: str, entry_id: int) -> None:
    """The claim lease (60 s) runs out, as it would for a deliverer that hung."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE outbox SET available_at = now() - interval '1 second' WHERE id = %s", (entry_id,))


def test_a_deliverer_whose_claim_lapsed_cannot_mark_the_entry_delivered(own_database: str, entry_id: int) -> None:
    # Given a deliverer claimed the entry and hung past its claim, and a second one claimed it since
    store = PgOutboxStore()
    (first,) = store.claim_due(100)
    lapse_claims(own_database, entry_id)
    (second,) = store.claim_due(100)
    assert first.id == second.id == entry_id
    # When the first one comes back and reports delivery (or failure)
    # Then nothing changes: only the current claim holder records the outcome
    assert store.mark_delivered(first) is False
    assert store.mark_failed(first, "late", 1) is False
    with psycopg.connect(own_database) as conn:
        assert conn.execute("SELECT delivered_at FROM outbox WHERE id = %s", (entry_id,)).fetchone() == (None,)
    assert store.mark_delivered(second) is True


def test_an_entry_is_handed_to_its_handler_once_and_pruned_after_the_retention(
    own_database: str, entry_id: int
) -> None:
    # Given one due entry
    delivered: list[dict] = []
    outbox = OutboxService(PgOutboxStore(), {"test.kind": delivered.append})
    # When the sweep drains it, and drains again once any claim on it would have lapsed
    assert outbox.drain(limit=1000) == 1
    lapse_claims(own_database, entry_id)
    assert outbox.drain(limit=1000) == 0
    # Then its handler got it exactly once: delivered, not merely claimed
    assert delivered == [PAYLOAD]
    # And delivered entries are kept for the retention, then pruned
    assert outbox.prune(older_than_s=3600) == 0
    with psycopg.connect(own_database, autocommit=True) as conn:
        conn.execute("UPDATE outbox SET delivered_at = now() - interval '2 hours' WHERE id = %s", (entry_id,))
    assert outbox.prune(older_than_s=3600) == 1
    with psycopg.connect(own_database) as conn:
        assert conn.execute("SELECT count(*) FROM outbox").fetchone() == (0,)
