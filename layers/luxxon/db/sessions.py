"""Session persistence. Each transition is one statement guarded by `WHERE state = ...` (CAS)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from luxxon.db.connection import Conn, connection, transaction
from luxxon.domain.sessions import (
    EndOutcome,
    MeterFn,
    NewSession,
    Provision,
    Session,
    Snapshot,
    StartOutcome,
)

# The columns of the domain `Session`, in its field order.
COLUMNS = """
    s.id::text, s.consumer_workspace_id::text, s.operator_workspace_id::text, s.state,
    s.max_duration_seconds, s.wait_timeout_seconds, s.rate_per_second_micro_usdc, s.hold_micro_usdc,
    s.started_at, s.ended_at, s.clean_seconds, s.charged_micro_usdc, s.settlement_tx_hash,
    s.video_backend_ref, s.created_at,
    ST_Y(s.requested_at_point::geometry) AS requested_lat, ST_X(s.requested_at_point::geometry) AS requested_lng,
    s.authorized, s.whep_url, s.whip_url
"""
_TOKEN = "pg_current_xact_id()::text AS token"

# A session `o` that keeps its operator BUSY: media flowing, or a live input provisioned.
_STARTED = "(o.state IN ('LIVE', 'PAUSED') OR (o.state = 'ASSIGNED' AND o.video_backend_ref IS NOT NULL))"
# Releases the operator workspace (BUSY → ONLINE) when it has no other started session.
_RELEASE_OPERATOR = f"""
released AS (
    UPDATE workspaces w SET availability = 'ONLINE', updated_at = clock_timestamp()
    FROM changed c
    WHERE w.id = c.operator_workspace_id AND w.availability = 'BUSY'
      AND NOT EXISTS (
          SELECT 1 FROM sessions o
          WHERE o.operator_workspace_id = w.id AND o.id NOT IN (SELECT id FROM changed) AND {_STARTED})
    RETURNING w.id
)"""


# Tears the live input down after commit (outbox) once a transition ends the session's video.
# `changed` must expose `old_ref`, the live input the row had before the statement cleared it.
_TEARDOWN = """
teardown AS (
    INSERT INTO outbox (kind, payload)
    SELECT 'live_input.delete', jsonb_build_object('uid', c.old_ref, 'sessionId', c.id::text)
    FROM changed c WHERE c.old_ref IS NOT NULL
    RETURNING id
)"""
# The SET clause that clears the video plane of a session leaving it.
_CLEAR_VIDEO = "video_backend_ref = NULL, whip_url = NULL, whep_url = NULL"


def _lock_workspace(conn: Conn, workspace_id: str | None) -> None:
    """Serialize the transitions that may release this operator (each then sees the others' committed work)."""
    if workspace_id is not None:
        conn.execute("SELECT 1 FROM workspaces WHERE id = %s FOR UPDATE", (workspace_id,))


def _stop(conn: Conn, ids: list[Any], from_states: tuple[str, ...], to_state: str, select: str) -> list[Any]:
    """The locked sessions `ids` in `from_states` → `to_state`, leaving the video plane: fields cleared, live input
    torn down (outbox), operator released. Returns `select` over the changed rows, oldest first."""
    return conn.execute(
        f"""
        WITH changed AS (
            UPDATE sessions s SET state = %(to)s, updated_at = clock_timestamp(), {_CLEAR_VIDEO}
            FROM sessions old
            WHERE old.id = s.id AND s.id = ANY(%(ids)s) AND s.state = ANY(%(from)s)
            RETURNING s.*, old.video_backend_ref AS old_ref
        ), {_RELEASE_OPERATOR}, {_TEARDOWN}
        SELECT {select} FROM changed s ORDER BY s.created_at, s.id
        """,
        {"ids": ids, "from": list(from_states), "to": to_state},
    ).fetchall()


def _session(row: dict[str, Any]) -> Session:
    row.pop("token", None)
    return Session(**row)


def _won(row: dict[str, Any] | None) -> tuple[Session, str] | None:
    if row is None:
        return None
    token = row.pop("token")
    return Session(**row), token


class PgSessionStore:
    def insert(self, new: NewSession) -> tuple[Session, str]:
        row = (
            connection()
            .execute(
                f"""
                INSERT INTO sessions AS s (
                    consumer_workspace_id, requested_at_point, geofence_radius_m, max_duration_seconds,
                    wait_timeout_seconds, wait_deadline_at, rate_per_second_micro_usdc, hold_micro_usdc)
                VALUES (%(consumer)s, ST_SetSRID(ST_MakePoint(%(lng)s, %(lat)s), 4326)::geography, %(radius)s,
                        %(duration)s, %(wait)s, clock_timestamp() + make_interval(secs => %(wait)s),
                        %(rate)s, %(hold)s)
                RETURNING {COLUMNS}, {_TOKEN}
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
                },
            )
            .fetchone()
        )
        won = _won(row)
        assert won is not None
        return won

    def get_visible(self, session_id: str, workspace_id: str) -> Session | None:
        row = (
            connection()
            .execute(
                f"SELECT {COLUMNS} FROM sessions s"
                " WHERE s.id = %(id)s AND (s.consumer_workspace_id = %(ws)s OR s.operator_workspace_id = %(ws)s)",
                {"id": session_id, "ws": workspace_id},
            )
            .fetchone()
        )
        return None if row is None else _session(row)

    def snapshot(self, session_id: str) -> Snapshot | None:
        row = (
            connection()
            .execute(
                "SELECT state, consumer_workspace_id::text, operator_workspace_id::text FROM sessions WHERE id = %s",
                (session_id,),
            )
            .fetchone()
        )
        return None if row is None else Snapshot(**row)

    def list_for(
        self, workspace_id: str, state: str | None, after: tuple[datetime, str] | None, limit: int
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
        return [_session(r) for r in connection().execute(sql, params).fetchall()]

    def inbox(self, workspace_id: str, limit: int) -> list[Session]:
        # REQUESTED sessions whose point lies in the supplier's coverage area: the partial GiST index on
        # REQUESTED points answers the bounding-box test, then the exact intersection runs on those rows only.
        rows = (
            connection()
            .execute(
                f"""
                SELECT {COLUMNS} FROM workspaces w
                JOIN sessions s ON s.state = 'REQUESTED' AND ST_Intersects(s.requested_at_point, w.coverage_area)
                WHERE w.id = %(ws)s AND s.consumer_workspace_id <> w.id
                ORDER BY s.created_at, s.id
                LIMIT %(limit)s
                """,
                {"ws": workspace_id, "limit": limit},
            )
            .fetchall()
        )
        return [_session(r) for r in rows]

    def cas_accept(self, session_id: str, operator_workspace_id: str) -> tuple[Session, str] | None:
        row = (
            connection()
            .execute(
                f"""
                UPDATE sessions s SET state = 'ASSIGNED', operator_workspace_id = %(op)s,
                       assigned_at = clock_timestamp(), updated_at = clock_timestamp()
                WHERE s.id = %(id)s AND s.state = 'REQUESTED' AND s.consumer_workspace_id <> %(op)s
                RETURNING {COLUMNS}, {_TOKEN}
                """,
                {"id": session_id, "op": operator_workspace_id},
            )
            .fetchone()
        )
        return _won(row)

    def cas_cancel(self, session_id: str, consumer_workspace_id: str) -> tuple[Session, str] | None:
        with transaction() as conn:
            # Lock first, change second: the changing statement then sees the committed row (a /start that was
            # provisioning when we arrived has written its live input, which we must tear down) and the operator.
            head = conn.execute(
                "SELECT operator_workspace_id::text AS operator FROM sessions"
                " WHERE id = %s AND consumer_workspace_id = %s AND state IN ('REQUESTED', 'ASSIGNED') FOR UPDATE",
                (session_id, consumer_workspace_id),
            ).fetchone()
            if head is None:
                return None
            _lock_workspace(conn, head["operator"])
            rows = _stop(conn, [session_id], ("REQUESTED", "ASSIGNED"), "CANCELLED", f"{COLUMNS}, {_TOKEN}")
        return _won(rows[0] if rows else None)

    def cancel_all_assigned(self, operator_workspace_id: str) -> tuple[list[str], str]:
        with transaction() as conn:
            locked = conn.execute(
                "SELECT id FROM sessions WHERE operator_workspace_id = %s AND state = 'ASSIGNED'"
                " ORDER BY created_at, id FOR UPDATE",
                (operator_workspace_id,),
            ).fetchall()
            _lock_workspace(conn, operator_workspace_id)
            ids = [r["id"] for r in locked]
            rows = _stop(conn, ids, ("ASSIGNED",), "CANCELLED", f"s.id::text, {_TOKEN}")
            if not rows:
                # Nothing to cancel: still give back a workspace left BUSY with no started session.
                conn.execute(
                    "UPDATE workspaces w SET availability = 'ONLINE', updated_at = clock_timestamp()"
                    f" WHERE w.id = %s AND w.availability = 'BUSY' AND NOT EXISTS (SELECT 1 FROM sessions o"
                    f" WHERE o.operator_workspace_id = w.id AND {_STARTED})",
                    (operator_workspace_id,),
                )
        token = rows[0]["token"] if rows else ""
        return [r["id"] for r in rows], token

    def end(
        self, session_id: str, workspace_id: str | None, meter_fn: MeterFn, final_state: str = "ENDED"
    ) -> EndOutcome:
        """LIVE → `final_state` with the meter run in the same transaction. `workspace_id` None: the system."""
        with transaction() as conn:
            head = conn.execute(
                """
                SELECT s.state, s.started_at, s.rate_per_second_micro_usdc AS rate, s.max_duration_seconds,
                       s.operator_workspace_id::text AS operator,
                       clock_timestamp() AS now,
                       ARRAY(SELECT ARRAY[d.opened_at, d.closed_at] FROM disconnect_windows d
                             WHERE d.session_id = s.id) AS windows
                FROM sessions s
                WHERE s.id = %(id)s AND (%(ws)s::uuid IS NULL
                                         OR s.consumer_workspace_id = %(ws)s OR s.operator_workspace_id = %(ws)s)
                FOR UPDATE OF s
                """,
                {"id": session_id, "ws": workspace_id},
            ).fetchone()
            if head is None:
                return EndOutcome(None, None, None)
            if head["state"] != "LIVE":
                return EndOutcome(None, None, head["state"])
            _lock_workspace(conn, head["operator"])
            windows = [(w[0], w[1]) for w in head["windows"]]
            bill = meter_fn(head["started_at"], head["now"], windows, head["rate"], head["max_duration_seconds"])
            row = conn.execute(
                f"""
                WITH changed AS (
                    UPDATE sessions s SET state = %(final)s, ended_at = %(now)s, clean_seconds = %(clean)s,
                           charged_micro_usdc = %(charged)s, updated_at = clock_timestamp(), {_CLEAR_VIDEO}
                    FROM sessions old
                    WHERE old.id = s.id AND s.id = %(id)s AND s.state = 'LIVE'
                    RETURNING s.*, old.video_backend_ref AS old_ref
                ), {_RELEASE_OPERATOR}, {_TEARDOWN}
                SELECT {COLUMNS}, {_TOKEN} FROM changed s
                """,
                {
                    "id": session_id,
                    "now": head["now"],
                    "clean": bill.clean_seconds,
                    "charged": bill.charged_micro_usdc,
                    "final": final_state,
                },
            ).fetchone()
        won = _won(row)
        assert won is not None  # the row is locked and was LIVE
        return EndOutcome(won[0], won[1], final_state)

    def expire_waiting(self, limit: int) -> list[str]:
        """REQUESTED/ASSIGNED sessions past `createdAt + waitTimeoutSeconds` → EXPIRED (no meter), with teardown."""
        with transaction() as conn:
            due = conn.execute(
                "SELECT id, operator_workspace_id::text AS operator FROM sessions"
                " WHERE state IN ('REQUESTED', 'ASSIGNED') AND wait_deadline_at < clock_timestamp()"
                " ORDER BY wait_deadline_at LIMIT %s FOR UPDATE SKIP LOCKED",
                (limit,),
            ).fetchall()
            for operator in sorted({r["operator"] for r in due if r["operator"]}):
                _lock_workspace(conn, operator)
            ids = [r["id"] for r in due]
            rows = _stop(conn, ids, ("REQUESTED", "ASSIGNED"), "EXPIRED", "s.id::text")
        return [r["id"] for r in rows]

    def overdue_live(self, limit: int) -> list[str]:
        """LIVE sessions that ran past `startedAt + maxDurationSeconds` without /end."""
        rows = (
            connection()
            .execute(
                "SELECT id::text FROM sessions WHERE state = 'LIVE'"
                " AND started_at + make_interval(secs => max_duration_seconds) < clock_timestamp()"
                " ORDER BY started_at LIMIT %s",
                (limit,),
            )
            .fetchall()
        )
        return [r["id"] for r in rows]

    def cas_go_live(self, session_id: str, started_at: datetime) -> Session | None:
        row = (
            connection()
            .execute(
                f"""
                UPDATE sessions s SET state = 'LIVE', started_at = least(%(at)s, clock_timestamp()),
                       updated_at = clock_timestamp()
                WHERE s.id = %(id)s AND s.state = 'ASSIGNED'
                RETURNING {COLUMNS}
                """,
                {"id": session_id, "at": started_at},
            )
            .fetchone()
        )
        return None if row is None else _session(row)

    def open_window(self, session_id: str, reason: str, at: datetime) -> bool:
        row = (
            connection()
            .execute(
                """
                INSERT INTO disconnect_windows (session_id, reason, opened_at)
                SELECT s.id, %(reason)s, %(at)s FROM sessions s WHERE s.id = %(id)s AND s.state IN ('LIVE', 'PAUSED')
                ON CONFLICT (session_id, reason) WHERE closed_at IS NULL DO NOTHING
                RETURNING id
                """,
                {"id": session_id, "reason": reason, "at": at},
            )
            .fetchone()
        )
        return row is not None

    def close_window(self, session_id: str, reason: str, at: datetime) -> bool:
        row = (
            connection()
            .execute(
                "UPDATE disconnect_windows SET closed_at = greatest(opened_at, %(at)s)"
                " WHERE session_id = %(id)s AND reason = %(reason)s AND closed_at IS NULL RETURNING id",
                {"id": session_id, "reason": reason, "at": at},
            )
            .fetchone()
        )
        return row is not None

    def start(self, session_id: str, operator_workspace_id: str, provision: Provision) -> StartOutcome:
        """Attach a live input to an ASSIGNED session, once: the row lock makes concurrent starts wait for the
        first and then return its URLs, so no second live input is ever created."""
        with transaction() as conn:
            head = conn.execute(
                "SELECT state, consumer_workspace_id::text AS consumer, operator_workspace_id::text AS operator,"
                " video_backend_ref FROM sessions WHERE id = %s FOR UPDATE",
                (session_id,),
            ).fetchone()
            if head is None or operator_workspace_id not in (head["consumer"], head["operator"]):
                return StartOutcome(None, None, None, is_party=False)
            if head["operator"] != operator_workspace_id:
                return StartOutcome(None, None, head["state"], is_party=True, is_operator=False)
            already_started = head["video_backend_ref"] is not None and head["state"] in ("ASSIGNED", "LIVE", "PAUSED")
            if head["state"] != "ASSIGNED" and not already_started:
                return StartOutcome(None, None, head["state"], is_party=True)
            if head["video_backend_ref"] is None:
                ref, whip, whep = provision(session_id)
                _lock_workspace(conn, operator_workspace_id)
                row = conn.execute(
                    f"""
                    WITH changed AS (
                        UPDATE sessions s SET video_backend_ref = %(ref)s, whip_url = %(whip)s, whep_url = %(whep)s,
                               updated_at = clock_timestamp()
                        WHERE s.id = %(id)s RETURNING s.*
                    ), busy AS (
                        UPDATE workspaces SET availability = 'BUSY', updated_at = clock_timestamp()
                        WHERE id = %(op)s RETURNING id
                    )
                    SELECT {COLUMNS}, {_TOKEN} FROM changed s
                    """,
                    {"id": session_id, "op": operator_workspace_id, "ref": ref, "whip": whip, "whep": whep},
                ).fetchone()
                won = _won(row)
                assert won is not None
                return StartOutcome(won[0], won[1], "ASSIGNED", is_party=True)
            # Idempotent: the live input already exists (a reload, a double click, or a call after LIVE).
            row = conn.execute(f"SELECT {COLUMNS} FROM sessions s WHERE s.id = %s", (session_id,)).fetchone()
            assert row is not None
            return StartOutcome(_session(row), None, head["state"], is_party=True)

    def by_video_ref(self, video_backend_ref: str) -> tuple[str, str] | None:
        """(session id, state) of the session holding this live input."""
        row = (
            connection()
            .execute(
                "SELECT id::text AS session_id, state FROM sessions WHERE video_backend_ref = %s",
                (video_backend_ref,),
            )
            .fetchone()
        )
        return None if row is None else (row["session_id"], row["state"])
