"""The video edge's live-input events and the disconnect windows derived from them (`ports.video.EdgeEventStore`).

Statements only: which windows an input's events imply is decided by `luxxon.domain.windows`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from luxxon.db.connection import Conn, connection
from luxxon.db.sessions import COLUMNS, _session
from luxxon.domain.ports.sessions import Session, Window
from luxxon.domain.ports.video import EdgeEvent, InputEvent, InputSignal

PRUNE = "DELETE FROM edge_events WHERE received_at < clock_timestamp() - make_interval(secs => %s)"


class PgEdgeEventStore:
    def __init__(self, connect: Callable[[], Conn] = connection) -> None:
        self._connect = connect  # the process connection, unless told otherwise (tests give a private one)

    def prune(self, older_than_s: int) -> int:
        return self._connect().execute(PRUNE, (older_than_s,)).rowcount

    @contextmanager
    def atomic(self) -> Iterator[None]:
        with self._connect().transaction():
            yield

    def lock_session_of_input(self, input_id: str) -> Session | None:
        row = (
            self._connect()
            .execute(f"SELECT {COLUMNS} FROM sessions s WHERE s.video_backend_ref = %s FOR UPDATE", (input_id,))
            .fetchone()
        )
        return None if row is None else _session(row)

    def record(self, event: EdgeEvent) -> bool:
        assert event.signal is not None and event.at is not None and event.input_id is not None
        row = (
            self._connect()
            .execute(
                "INSERT INTO edge_events (event_key, input_id, event_type, signal, updated_at)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (event_key) DO NOTHING RETURNING 1",
                (event.key, event.input_id, event.event_type, event.signal.value, event.at),
            )
            .fetchone()
        )
        return row is not None

    def events_of(self, input_id: str) -> list[InputEvent]:
        rows = self._connect().execute(
            "SELECT updated_at, signal FROM edge_events WHERE input_id = %s ORDER BY updated_at", (input_id,)
        )
        return [InputEvent(r["updated_at"], InputSignal(r["signal"])) for r in rows.fetchall()]

    def windows(self, session_id: str, reason: str, source: str) -> list[Window]:
        rows = self._connect().execute(
            "SELECT opened_at, closed_at FROM disconnect_windows"
            " WHERE session_id = %s AND reason = %s AND source = %s ORDER BY opened_at",
            (session_id, reason, source),
        )
        return [(r["opened_at"], r["closed_at"]) for r in rows.fetchall()]

    def replace_windows(
        self, session_id: str, reason: str, source: str, remove: Sequence[Window], add: Sequence[Window]
    ) -> None:
        conn = self._connect()
        key = {"id": session_id, "reason": reason, "source": source}
        for opened, closed in remove:
            conn.execute(
                "DELETE FROM disconnect_windows WHERE session_id = %(id)s AND reason = %(reason)s"
                " AND source = %(source)s AND opened_at = %(opened)s"
                " AND closed_at IS NOT DISTINCT FROM %(closed)s::timestamptz",
                {**key, "opened": opened, "closed": closed},
            )
        for opened, closed in add:
            conn.execute(
                "INSERT INTO disconnect_windows (session_id, reason, source, opened_at, closed_at)"
                " VALUES (%(id)s, %(reason)s, %(source)s, %(opened)s, %(closed)s)",
                {**key, "opened": opened, "closed": closed},
            )
