"""The live schema agrees with the code that names its states and shapes (luxxon.domain.states,
ports.sessions.Session)."""

from __future__ import annotations

import dataclasses
import re

import psycopg
import pytest

from luxxon.db import decoder as db_decoder
from luxxon.db import outbox as db_outbox
from luxxon.db import sessions as db_sessions
from luxxon.domain.ports.sessions import Session
from luxxon.domain.states import SessionState

DECLARED = {**db_sessions.PARTIAL_INDEXES, **db_decoder.PARTIAL_INDEXES}
_STATE_LITERAL = re.compile(r"'([A-Z_]+)'::text")


def states_in(predicate: str) -> set[SessionState]:
    return {SessionState(name) for name in _STATE_LITERAL.findall(predicate)}


@pytest.fixture
def conn(database_url: str) -> psycopg.Connection:
    with psycopg.connect(database_url) as connection:
        yield connection


def test_every_partial_index_on_sessions_filtering_by_state_is_declared_with_the_state_set_it_must_match(
    conn: psycopg.Connection,
) -> None:
    # Given every partial index on `sessions` whose predicate names a state
    rows = conn.execute(
        "SELECT c.relname, pg_get_expr(i.indpred, i.indrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE i.indrelid = 'sessions'::regclass AND i.indpred IS NOT NULL"
    ).fetchall()
    found = {name: states_in(predicate) for name, predicate in rows if "state" in predicate}
    # Then each is declared by the statements that use it, with exactly the states of its predicate
    assert found == {name: set(states) for name, states in DECLARED.items()}


def test_the_inbox_function_filters_on_the_state_of_its_partial_index(conn: psycopg.Connection) -> None:
    body = conn.execute("SELECT prosrc FROM pg_proc WHERE proname = 'lx_session_inbox'").fetchone()
    assert body is not None
    assert set(re.findall(r"s\.state = '([A-Z_]+)'", body[0])) == {
        s.value for s in db_sessions.PARTIAL_INDEXES["sessions_requested_point_gix"]
    }


def test_the_accept_facts_function_counts_the_active_states_of_its_partial_index(conn: psycopg.Connection) -> None:
    body = conn.execute("SELECT prosrc FROM pg_proc WHERE proname = 'lx_accept_facts'").fetchone()
    assert body is not None
    (listed,) = re.findall(r"o\.state IN \(([^)]*)\)", body[0])
    assert set(re.findall(r"'([A-Z_]+)'", listed)) == {
        s.value for s in db_sessions.PARTIAL_INDEXES["sessions_operator_active_idx"]
    }


def test_the_sql_session_shape_is_the_domain_session(conn: psycopg.Connection) -> None:
    attributes = conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = 'lx_session'::regclass AND attnum > 0 ORDER BY attnum"
    ).fetchall()
    assert [a for (a,) in attributes] == [f.name for f in dataclasses.fields(Session)]


def test_the_state_check_constraint_admits_exactly_the_states(conn: psycopg.Connection) -> None:
    (definition,) = conn.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'sessions'::regclass"
        " AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%%state = ANY%%' AND conname LIKE '%%state_check'"
    ).fetchone()
    assert states_in(definition) == set(SessionState)


@pytest.mark.parametrize(
    ("statement", "index"),
    [
        (db_sessions.OVERDUE_LIVE, "sessions_live_started_idx"),
        (db_sessions.PAST_WAIT_DEADLINE, "sessions_wait_deadline_idx"),
        (db_outbox.PRUNE_DELIVERED, "outbox_delivered_idx"),
    ],
)
def test_the_sweeps_scans_can_use_their_partial_indexes(conn: psycopg.Connection, statement: str, index: str) -> None:
    # (On a near-empty table the planner prefers a sequential scan; forbidding it shows the index is usable.)
    conn.execute("SET enable_seqscan = off")
    plan = "\n".join(row[0] for row in conn.execute(f"EXPLAIN {statement}", (200,)).fetchall())
    assert index in plan, plan
