"""Decoder leases (table `decoder_leases`): claim, renew, release, and the backlog of sessions without a decoder.

Each operation is one statement in autocommit. Expiry is decided by the database clock (`clock_timestamp()`), so
decoder tasks on different hosts agree on it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from luxxon.db.connection import Conn, connection
from luxxon.domain.ports.decoder import Lease, LeaseStatus
from luxxon.domain.states import VIDEO_ACTIVE, SessionState, sql_in

# The partial index sessions_needs_decoder_idx (0002_video.sql) and its predicate, rendered from the same state set.
PARTIAL_INDEXES = {"sessions_needs_decoder_idx": VIDEO_ACTIVE}
_NEEDS_DECODER = f"s.state IN ({sql_in(VIDEO_ACTIVE)}) AND s.whep_url IS NOT NULL"

# Up to `limit` sessions that need a decoder and have no live lease. Session rows being changed right now (a
# transition, /start provisioning) or being claimed by another decoder are skipped, not waited for. The upsert
# takes over an expired lease; if another process claimed the same session a moment earlier, its fresh lease
# fails the WHERE and the row is simply not returned (the primary key is the last word). `claimed_at` is the claim's
# time on the database clock (clock_timestamp(), the column's default on insert): the lease's fencing token.
_CLAIM = f"""
WITH candidates AS (
    SELECT s.id FROM sessions s
    WHERE {_NEEDS_DECODER}
      AND NOT EXISTS (
          SELECT 1 FROM decoder_leases l WHERE l.session_id = s.id AND l.expires_at > clock_timestamp())
    LIMIT %(limit)s
    FOR UPDATE OF s SKIP LOCKED
),
claimed AS (
    INSERT INTO decoder_leases AS l (session_id, owner, expires_at)
    SELECT id, %(owner)s, clock_timestamp() + make_interval(secs => %(ttl)s) FROM candidates
    ON CONFLICT (session_id) DO UPDATE
        SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at, claimed_at = clock_timestamp(),
            generation = l.generation + 1
        WHERE l.expires_at <= clock_timestamp()
    RETURNING l.session_id, l.generation, l.claimed_at
)
SELECT c.session_id::text AS session_id, s.state, s.whep_url, c.generation, c.claimed_at
FROM claimed c JOIN sessions s ON s.id = c.session_id
"""

# Every lease of this owner: extend the ones it still decodes and that still need a decoder, release the rest.
# (PostgreSQL runs data-modifying CTEs to completion whether or not the outer query reads them.)
_RENEW = f"""
WITH mine AS (
    SELECT l.session_id, s.state, s.whep_url,
           ({_NEEDS_DECODER} AND l.session_id = ANY(%(keep)s::uuid[])) AS keep
    FROM decoder_leases l JOIN sessions s ON s.id = l.session_id
    WHERE l.owner = %(owner)s
    FOR UPDATE OF l
),
renewed AS (
    UPDATE decoder_leases l SET expires_at = clock_timestamp() + make_interval(secs => %(ttl)s)
    FROM mine m WHERE l.session_id = m.session_id AND m.keep
    RETURNING l.session_id
),
released AS (
    DELETE FROM decoder_leases l USING mine m WHERE l.session_id = m.session_id AND NOT m.keep
    RETURNING l.session_id
)
SELECT m.session_id::text AS session_id, m.state, m.whep_url, m.keep AS renewed FROM mine m
"""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

_BACKLOG = f"""
SELECT count(*) AS waiting FROM sessions s
WHERE {_NEEDS_DECODER}
  AND NOT EXISTS (SELECT 1 FROM decoder_leases l WHERE l.session_id = s.id AND l.expires_at > clock_timestamp())
"""


class PgLeaseStore:
    def __init__(self, connect: Callable[[], Conn] = connection) -> None:
        self._connect = connect  # the process connection, unless told otherwise (tests give a private one)

    def claim(self, owner: str, limit: int, ttl_s: float) -> list[Lease]:
        if limit <= 0:
            return []
        rows = self._connect().execute(_CLAIM, {"owner": owner, "limit": limit, "ttl": ttl_s}).fetchall()
        return [
            Lease(
                r["session_id"],
                SessionState(r["state"]),
                r["whep_url"],
                r["generation"],
                token=(r["claimed_at"] - _EPOCH) // _MICROSECOND,  # exact: timestamptz has microseconds
            )
            for r in rows
        ]

    def renew(self, owner: str, keep: Sequence[str], ttl_s: float) -> list[LeaseStatus]:
        rows = self._connect().execute(_RENEW, {"owner": owner, "keep": list(keep), "ttl": ttl_s}).fetchall()
        return [LeaseStatus(r["session_id"], SessionState(r["state"]), r["whep_url"], r["renewed"]) for r in rows]

    def release(self, owner: str, session_ids: Sequence[str] | None = None) -> int:
        if session_ids is None:
            cursor = self._connect().execute("DELETE FROM decoder_leases WHERE owner = %s", (owner,))
        else:
            cursor = self._connect().execute(
                "DELETE FROM decoder_leases WHERE owner = %s AND session_id = ANY(%s::uuid[])",
                (owner, list(session_ids)),
            )
        return cursor.rowcount

    def prune_expired(self, older_than_s: int) -> int:
        cursor = self._connect().execute(
            "DELETE FROM decoder_leases WHERE expires_at < clock_timestamp() - make_interval(secs => %s)",
            (older_than_s,),
        )
        return cursor.rowcount

    def backlog(self) -> int:
        row = self._connect().execute(_BACKLOG).fetchone()
        return int(row["waiting"]) if row else 0
