"""Session statements (`ports.sessions.SessionStore`). Reads, row locks for a unit of work, and compare-and-swap writes.

Nothing here decides: the domain (`luxxon.domain.sessions`) chooses which of these to run. State names come from
`luxxon.domain.states`, as parameters, or rendered as literals where a partial index's predicate must match.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from luxxon.db.connection import connection, fetch_all, fetch_one, transaction
from luxxon.domain.ports.money import Credit, SettlementStatus
from luxxon.domain.ports.outbox import LIVE_INPUT_DELETE, SETTLEMENT_REQUEST
from luxxon.domain.ports.sessions import AcceptFacts, Locked, NewSession, Session, Transition
from luxxon.domain.states import METERED, PRE_LIVE, VIDEO_ACTIVE, SessionState, names, sql_in

S = SessionState

# The domain `Session` of a row `s` (SQL type lx_session, migration 0003: the one definition of the shape).
COLUMNS = "(lx_session_of(s)).*"
_TOKEN = "pg_current_xact_id()::text AS token"
# An accept's facts with the operator's row locked first (migration 0014/0016); tests/bench/handler_latency.py sends it
# as the bare SQL of an accept.
ACCEPT_FACTS = (
    "SELECT (f.session).*, f.availability, f.chosen_availability, f.covers, f.active,"
    " f.wait_deadline_passed, f.has_wallet FROM lx_accept_facts(%(op)s, %(id)s) f"
)
# A decoder's window write is fenced by its lease (None: not a decoder's): the writer must hold the session's unexpired
# lease, so a decoder paused past its lease, whose session another took over, changes no window.
_HOLDS_LEASE = (
    "(%(owner)s::text IS NULL OR EXISTS (SELECT 1 FROM decoder_leases l WHERE l.session_id = s.id"
    " AND l.owner = %(owner)s AND l.expires_at > clock_timestamp()))"
)

# Partial indexes on `sessions` and the state set each predicate must equal (checked against the live schema by
# tests/integration/test_db_schema.py). Statements that must use one render its predicate from the same set.
PARTIAL_INDEXES = {
    "sessions_requested_point_gix": frozenset({S.REQUESTED}),
    "sessions_wait_deadline_idx": PRE_LIVE,
    "sessions_live_started_idx": frozenset({S.LIVE}),
    "sessions_operator_active_idx": VIDEO_ACTIVE,
    "sessions_consumer_wallet_open_idx": PRE_LIVE | METERED,  # holds (lx_wallet_holds, migration 0012)
}
_PRE_LIVE = f"state IN ({sql_in(PRE_LIVE)})"
_LIVE = f"state IN ({sql_in({S.LIVE})})"
# The sweep's scans (tests/integration/test_db_schema.py checks each can use its partial index).
OVERDUE_LIVE = (
    f"SELECT id::text FROM sessions WHERE {_LIVE}"
    " AND started_at + make_interval(secs => max_duration_seconds) < clock_timestamp()"
    " ORDER BY started_at LIMIT %s"
)
PAST_WAIT_DEADLINE = (
    f"SELECT {COLUMNS} FROM sessions s WHERE {_PRE_LIVE} AND wait_deadline_at < clock_timestamp()"
    " ORDER BY wait_deadline_at LIMIT %s FOR UPDATE SKIP LOCKED"
)


def _session(row: dict[str, Any]) -> Session:
    row.pop("token", None)
    row["state"] = S(row["state"])
    return Session(**row)


def _applied(row: dict[str, Any]) -> Transition:
    token = row.pop("token")
    return Transition(won=True, session=_session(row), token=token)


class PgSessionStore:
    @contextmanager
    def atomic(self) -> Iterator[None]:
        with transaction():
            yield

    # -- reads ---------------------------------------------------------------------------------------------------
    def get(self, session_id: str) -> Session | None:
        row = fetch_one("SELECT * FROM lx_session_get(%s)", (session_id,))
        return None if row is None else _session(row)

    def list_for(
        self, workspace_id: str, state: SessionState | None, after: tuple[datetime, str] | None, limit: int
    ) -> list[Session]:
        # Both sides' sessions, newest first; keyset pagination on (created_at, id).
        params: dict[str, Any] = {"ws": workspace_id, "state": state, "limit": limit}
        keyset = ""
        if after is not None:
            keyset = "AND (s.created_at, s.id) < (%(after_created)s, %(after_id)s::uuid)"
            params |= {"after_created": after[0], "after_id": after[1]}
        sql = f"""
            SELECT * FROM (
                (SELECT {COLUMNS} FROM sessions s
                 WHERE s.consumer_workspace_id = %(ws)s AND (%(state)s::text IS NULL OR s.state = %(state)s) {keyset}
                 ORDER BY s.created_at DESC, s.id DESC LIMIT %(limit)s)
                UNION
                (SELECT {COLUMNS} FROM sessions s
                 WHERE s.operator_workspace_id = %(ws)s AND (%(state)s::text IS NULL OR s.state = %(state)s) {keyset}
                 ORDER BY s.created_at DESC, s.id DESC LIMIT %(limit)s)
            ) both_sides ORDER BY created_at DESC, id DESC LIMIT %(limit)s
        """
        return [_session(r) for r in fetch_all(sql, params)]

    def inbox(self, workspace_id: str, limit: int) -> list[Session]:
        # REQUESTED sessions inside the supplier's coverage area, oldest first (lx_session_inbox, migration 0003).
        rows = fetch_all("SELECT * FROM lx_session_inbox(%s, %s)", (workspace_id, limit))
        return [_session(r) for r in rows]

    def video_refs(self, session_ids: Sequence[str]) -> dict[str, str | None]:
        rows = fetch_all(
            "SELECT id::text, video_backend_ref FROM sessions WHERE id = ANY(%s::uuid[])", (list(session_ids),)
        )
        return {r["id"]: r["video_backend_ref"] for r in rows}

    def overdue_live(self, limit: int) -> list[str]:
        """LIVE sessions that ran past `startedAt + maxDurationSeconds`."""
        return [r["id"] for r in fetch_all(OVERDUE_LIVE, (limit,))]

    # -- locks (inside `atomic`) ---------------------------------------------------------------------------------
    def lock(self, session_id: str) -> Locked | None:
        """Lock the row, then read it, its windows and the clock in a second statement: a statement that waited for
        the lock would still see its subqueries (the windows) and the clock from before it waited (READ COMMITTED
        re-reads only the locked row), and the meter would miss a window committed meanwhile."""
        if connection().execute("SELECT 1 FROM sessions WHERE id = %s FOR UPDATE", (session_id,)).fetchone() is None:
            return None
        row = (
            connection()
            .execute(
                f"""
                SELECT {COLUMNS}, clock_timestamp() AS now, {_TOKEN},
                       ARRAY(SELECT ARRAY[d.opened_at, d.closed_at] FROM disconnect_windows d
                             WHERE d.session_id = s.id) AS windows
                FROM sessions s WHERE s.id = %s
                """,
                (session_id,),
            )
            .fetchone()
        )
        assert row is not None  # locked, so still there
        now, windows, token = row.pop("now"), row.pop("windows"), row.pop("token")
        return Locked(_session(row), now, [(w[0], w[1]) for w in windows], token)

    def lock_assigned_to(self, operator_workspace_id: str) -> list[str]:
        rows = (
            connection()
            .execute(
                "SELECT id::text FROM sessions WHERE operator_workspace_id = %s AND state = %s"
                " ORDER BY created_at, id FOR UPDATE",
                (operator_workspace_id, S.ASSIGNED.value),
            )
            .fetchall()
        )
        return [r["id"] for r in rows]

    def lock_past_wait_deadline(self, limit: int) -> list[Session]:
        """Pre-LIVE sessions past `createdAt + waitTimeoutSeconds`; rows another transaction holds are skipped."""
        rows = connection().execute(PAST_WAIT_DEADLINE, (limit,)).fetchall()
        return [_session(r) for r in rows]

    def lock_workspaces(self, workspace_ids: Iterable[str | None]) -> None:
        """Serialize the transitions that may release these operators (in id order: no deadlock between two).
        FOR NO KEY UPDATE, not FOR UPDATE: it must not conflict with the KEY SHARE locks that foreign keys to the
        workspace take (an idempotency key's row), or two keyed writes of one operator deadlock."""
        ids = sorted({w for w in workspace_ids if w is not None})
        if ids:
            connection().execute(
                "SELECT 1 FROM workspaces WHERE id = ANY(%s::uuid[]) ORDER BY id FOR NO KEY UPDATE", (ids,)
            )

    def accept_facts(self, operator_workspace_id: str, session_id: str) -> AcceptFacts | None:
        """Lock the operator's row (as `lock_workspaces`), then read the facts in a statement after the lock
        (lx_accept_facts, migration 0014): one round trip, a plan cached per connection."""
        row = (
            connection()
            .execute(
                ACCEPT_FACTS,
                {"op": operator_workspace_id, "id": session_id},
            )
            .fetchone()
        )
        if row is None:
            return None
        names = ("availability", "chosen_availability", "covers", "active", "wait_deadline_passed", "has_wallet")
        facts = {k: row.pop(k) for k in names}
        return AcceptFacts(session=_session(row), **facts)

    def lock_wallet(self, workspace_id: str) -> str | None:
        row = connection().execute("SELECT lx_wallet_lock(%s) AS wallet", (workspace_id,)).fetchone()
        return None if row is None or row["wallet"] is None else str(row["wallet"])

    # -- writes --------------------------------------------------------------------------------------------------
    def insert(self, new: NewSession, credit: Credit | None) -> Transition:
        row = (
            connection()
            .execute(
                f"""
                SELECT c.*, {_TOKEN} FROM lx_session_create(
                    %(consumer)s::uuid, %(lat)s::float8, %(lng)s::float8, %(radius)s::int, %(duration)s::int,
                    %(wait)s::int, %(rate)s::bigint, %(hold)s::bigint, %(wallet)s::text, %(quote)s::uuid,
                    %(available)s::numeric, %(block)s::bigint) c
                """,
                {
                    "consumer": new.consumer_workspace_id,
                    "lat": new.lat,
                    "lng": new.lng,
                    "radius": new.geofence_radius_m,
                    "duration": new.max_duration_seconds,
                    "wait": new.wait_timeout_seconds,
                    "rate": new.rate_per_second_micro_usdc,
                    "hold": new.hold_micro_usdc,
                    "wallet": new.consumer_wallet,
                    "quote": new.quote_id,
                    "available": None if credit is None else credit.available,
                    "block": None if credit is None else credit.block,
                },
            )
            .fetchone()
        )
        return Transition(won=False, session=None) if row is None else _applied(row)

    def _cas(self, session_id: str, sql: str, params: dict[str, Any]) -> Transition:
        """Run one compare-and-swap; when it matched nothing, re-read the row (a fresh snapshot) for the loser."""
        row = connection().execute(sql, {"id": session_id, **params}).fetchone()
        if row is not None:
            return _applied(row)
        return Transition(won=False, session=self.get(session_id))

    def cas_accept(self, session_id: str, operator_workspace_id: str) -> Transition:
        return self._cas(
            session_id,
            f"SELECT a.*, {_TOKEN} FROM lx_session_cas_accept(%(id)s, %(op)s, %(from)s, %(to)s) a",
            {"op": operator_workspace_id, "from": S.REQUESTED.value, "to": S.ASSIGNED.value},
        )

    def cas_attach_video(self, session_id: str, ref: str, whip_url: str, whep_url: str) -> Transition:
        return self._cas(
            session_id,
            f"""
            UPDATE sessions s SET video_backend_ref = %(ref)s, whip_url = %(whip)s, whep_url = %(whep)s,
                   updated_at = clock_timestamp()
            WHERE s.id = %(id)s AND s.state = %(from)s AND s.video_backend_ref IS NULL
            RETURNING {COLUMNS}, {_TOKEN}
            """,
            {"ref": ref, "whip": whip_url, "whep": whep_url, "from": S.ASSIGNED.value},
        )

    def cas_go_live(self, session_id: str, started_at: datetime) -> Transition:
        return self._cas(
            session_id,
            f"""
            UPDATE sessions s SET state = %(to)s, started_at = least(%(at)s, clock_timestamp()),
                   updated_at = clock_timestamp()
            WHERE s.id = %(id)s AND s.state = %(from)s
            RETURNING {COLUMNS}, {_TOKEN}
            """,
            {"at": started_at, "from": S.ASSIGNED.value, "to": S.LIVE.value},
        )

    def cas_stop(
        self, session_ids: Sequence[str], from_states: Iterable[SessionState], to_state: SessionState
    ) -> list[Transition]:
        """`session_ids` in `from_states` → `to_state`, leaving the video plane in the same statement: the URLs are
        cleared and the live input's teardown is written to the outbox (delivered after commit). Oldest first."""
        rows = (
            connection()
            .execute(
                f"""
                WITH changed AS (
                    UPDATE sessions s SET state = %(to)s, updated_at = clock_timestamp(),
                           video_backend_ref = NULL, whip_url = NULL, whep_url = NULL
                    FROM sessions old
                    WHERE old.id = s.id AND s.id = ANY(%(ids)s::uuid[]) AND s.state = ANY(%(from)s)
                    RETURNING lx_session_of(s) AS session, old.video_backend_ref AS old_ref
                ), teardown AS (
                    INSERT INTO outbox (kind, payload)
                    SELECT %(kind)s, jsonb_build_object('uid', c.old_ref, 'sessionId', (c.session).id)
                    FROM changed c WHERE c.old_ref IS NOT NULL
                )
                SELECT (c.session).*, {_TOKEN} FROM changed c ORDER BY (c.session).created_at, (c.session).id
                """,
                {"ids": list(session_ids), "from": names(from_states), "to": to_state.value, "kind": LIVE_INPUT_DELETE},
            )
            .fetchall()
        )
        return [_applied(r) for r in rows]

    def cas_end(
        self,
        session_id: str,
        to_state: SessionState,
        ended_at: datetime,
        clean_seconds: int,
        charged: int,
        *,
        settle: bool,
    ) -> Transition:
        """LIVE → `to_state` with the meter's figures, leaving the video plane (as `cas_stop`), and the session's
        settlement row in the same statement: PENDING with its request in the outbox when `settle`, else
        NOT_REQUIRED. The row copies the terms the contract is called with (the wallets stamped on the session)."""
        return self._cas(
            session_id,
            f"""
            WITH changed AS (
                UPDATE sessions s SET state = %(to)s, ended_at = %(ended)s, clean_seconds = %(clean)s,
                       charged_micro_usdc = %(charged)s, updated_at = clock_timestamp(),
                       video_backend_ref = NULL, whip_url = NULL, whep_url = NULL
                FROM sessions old
                WHERE old.id = s.id AND s.id = %(id)s AND s.state = %(from)s
                RETURNING lx_session_of(s) AS session, old.video_backend_ref AS old_ref, s.consumer_wallet,
                          s.operator_wallet
            ), teardown AS (
                INSERT INTO outbox (kind, payload)
                SELECT %(kind)s, jsonb_build_object('uid', c.old_ref, 'sessionId', (c.session).id)
                FROM changed c WHERE c.old_ref IS NOT NULL
            ), settlement AS (
                INSERT INTO settlements (session_id, status, consumer_wallet, operator_wallet, clean_seconds,
                                         rate_per_second_micro_usdc, max_duration_seconds, amount_micro_usdc)
                SELECT (c.session).id::uuid, CASE WHEN %(settle)s THEN %(pending)s ELSE %(not_required)s END,
                       c.consumer_wallet, c.operator_wallet, %(clean)s, (c.session).rate_per_second_micro_usdc,
                       (c.session).max_duration_seconds, %(charged)s
                FROM changed c
            ), request AS (
                INSERT INTO outbox (kind, payload)
                SELECT %(request)s, jsonb_build_object('sessionId', (c.session).id) FROM changed c WHERE %(settle)s
            )
            SELECT (c.session).*, {_TOKEN} FROM changed c
            """,
            {
                "to": to_state.value,
                "from": S.LIVE.value,
                "ended": ended_at,
                "clean": clean_seconds,
                "charged": charged,
                "kind": LIVE_INPUT_DELETE,
                "settle": settle,
                "pending": SettlementStatus.PENDING.value,
                "not_required": SettlementStatus.NOT_REQUIRED.value,
                "request": SETTLEMENT_REQUEST,
            },
        )

    def mark_busy(self, workspace_id: str) -> None:
        connection().execute(
            "UPDATE workspaces SET availability = 'BUSY', updated_at = clock_timestamp() WHERE id = %s",
            (workspace_id,),
        )

    def release_if_idle(self, workspace_ids: Iterable[str | None]) -> None:
        """BUSY → what the operator chose (ONLINE or OFFLINE: `chosen_availability`, migration 0016) for those of
        these operators that no longer have a started session (a live input)."""
        ids = sorted({w for w in workspace_ids if w is not None})
        if not ids:
            return
        connection().execute(
            """
            UPDATE workspaces w SET availability = w.chosen_availability, updated_at = clock_timestamp()
            WHERE w.id = ANY(%(ids)s::uuid[]) AND w.availability = 'BUSY'
              AND NOT EXISTS (SELECT 1 FROM sessions o WHERE o.operator_workspace_id = w.id
                              AND (o.state = ANY(%(metered)s)
                                   OR (o.state = ANY(%(active)s) AND o.video_backend_ref IS NOT NULL)))
            """,
            {"ids": ids, "metered": names(METERED), "active": names(VIDEO_ACTIVE)},
        )

    def open_window(
        self,
        session_id: str,
        reason: str,
        at: datetime,
        states: Iterable[SessionState],
        *,
        source: str,
        lease_owner: str | None = None,
    ) -> bool:
        # FOR SHARE: a transition holding the row (e.g. /end running the meter) finishes first, and the state is
        # checked against what it committed.
        row = (
            connection()
            .execute(
                f"""
                INSERT INTO disconnect_windows (session_id, reason, source, opened_at)
                SELECT s.id, %(reason)s, %(source)s, %(at)s FROM sessions s
                WHERE s.id = %(id)s AND s.state = ANY(%(states)s) AND {_HOLDS_LEASE} FOR SHARE
                ON CONFLICT (session_id, reason, source) WHERE closed_at IS NULL DO NOTHING
                RETURNING id
                """,
                {
                    "id": session_id,
                    "reason": reason,
                    "source": source,
                    "at": at,
                    "states": names(states),
                    "owner": lease_owner,
                },
            )
            .fetchone()
        )
        return row is not None

    def close_window(
        self, session_id: str, reason: str, at: datetime, *, source: str, lease_owner: str | None = None
    ) -> bool:
        row = (
            connection()
            .execute(
                "UPDATE disconnect_windows w SET closed_at = greatest(w.opened_at, %(at)s)"
                " FROM sessions s WHERE s.id = w.session_id"
                " AND w.session_id = %(id)s AND w.reason = %(reason)s AND w.source = %(source)s"
                f" AND w.closed_at IS NULL AND {_HOLDS_LEASE}"
                " RETURNING w.id",
                {"id": session_id, "reason": reason, "source": source, "at": at, "owner": lease_owner},
            )
            .fetchone()
        )
        return row is not None
