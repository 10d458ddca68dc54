"""Settlement statements: the relayer's rows and nonces (`ports.money.SettlementStore`), the indexer's copy of the chain
(`ports.money.ChainIndexStore`), and the reads behind `/settlements/{id}` and `/wallet`."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from psycopg import errors

from luxxon.db.connection import connection, fetch_all, fetch_one, transaction
from luxxon.domain.ports.money import (
    ALREADY_SETTLED,
    OPEN_SETTLEMENTS,
    ChainEvent,
    ContractEvent,
    Fees,
    NonceRecord,
    Settlement,
    SettlementStatus,
    SignedTx,
    StoreBusy,
)
from luxxon.domain.ports.outbox import SETTLEMENT_REQUEST
from luxxon.domain.states import SessionState

ST = SettlementStatus
_OPEN = [s.value for s in OPEN_SETTLEMENTS]
_COLUMNS = """session_id::text, status, consumer_wallet, operator_wallet, clean_seconds, rate_per_second_micro_usdc,
    max_duration_seconds, amount_micro_usdc, tx_hash, nonce, max_fee_per_gas, priority_fee_per_gas, submitted_at,
    attempts, block_number, block_hash, failure, discrepancy, updated_at"""
# Holds (DESIGN.md, "Money plane"): a session holds its `holdMicroUsdc` from creation until it ends; an ended one its
# `chargedMicroUsdc` until its settlement is CONFIRMED (a FAILED one keeps holding); nothing otherwise.
HOLDING = [
    SessionState.REQUESTED.value,
    SessionState.ASSIGNED.value,
    SessionState.LIVE.value,
    SessionState.PAUSED.value,
]


def _settlement(row: dict[str, Any]) -> Settlement:
    max_fee, priority = row.pop("max_fee_per_gas"), row.pop("priority_fee_per_gas")
    fees = None if max_fee is None else Fees(int(max_fee), int(priority))
    return Settlement(**{**row, "status": ST(row["status"]), "fees": fees})


class PgSettlementStore:
    @contextmanager
    def atomic(self) -> Iterator[None]:
        try:
            with transaction():
                yield
        except (errors.LockNotAvailable, errors.DeadlockDetected, errors.QueryCanceled) as error:
            raise StoreBusy(type(error).__name__) from error

    def get(self, session_id: str) -> Settlement | None:
        row = fetch_one(f"SELECT {_COLUMNS} FROM settlements WHERE session_id = %s", (session_id,))
        return None if row is None else _settlement(row)

    def get_many(self, session_ids: Sequence[str]) -> list[Settlement]:
        rows = fetch_all(
            f"SELECT {_COLUMNS} FROM settlements WHERE session_id = ANY(%s::uuid[]) ORDER BY session_id",
            (list(session_ids),),
        )
        return [_settlement(r) for r in rows]

    def fail(self, session_id: str, failure: str) -> None:
        connection().execute(
            "UPDATE settlements SET status = %s, failure = %s, updated_at = clock_timestamp()"
            " WHERE session_id = %s AND status = ANY(%s)",
            (ST.FAILED.value, failure, session_id, _OPEN),
        )

    def lock_nonce(self, address: str) -> NonceRecord:
        connection().execute(
            "INSERT INTO relayer_nonces (address, next_nonce) VALUES (lower(%s), 0) ON CONFLICT DO NOTHING", (address,)
        )
        row = (
            connection()
            .execute(
                "SELECT next_nonce, extract(epoch FROM clock_timestamp() - updated_at)::float8 AS age_s"
                " FROM relayer_nonces WHERE address = lower(%s) FOR UPDATE",
                (address,),
            )
            .fetchone()
        )
        assert row is not None
        return NonceRecord(int(row["next_nonce"]), float(row["age_s"]))

    def set_nonce(self, address: str, next_nonce: int) -> None:
        # Under the row lock: the nonce the send just used + 1, exactly (a reused nonce lowers it).
        connection().execute(
            "UPDATE relayer_nonces SET next_nonce = %s, updated_at = clock_timestamp() WHERE address = lower(%s)",
            (next_nonce, address),
        )

    def lock_open(self, seen: Mapping[str, str | None]) -> list[Settlement]:
        rows = (
            connection()
            .execute(
                f"""
                SELECT {_COLUMNS} FROM settlements s
                JOIN unnest(%(ids)s::uuid[], %(hashes)s::text[]) AS seen(sid, seen_hash) ON seen.sid = s.session_id
                WHERE s.status = ANY(%(open)s) AND s.tx_hash IS NOT DISTINCT FROM seen.seen_hash
                ORDER BY s.session_id FOR UPDATE OF s
                """,
                {"ids": list(seen), "hashes": list(seen.values()), "open": _OPEN},
            )
            .fetchall()
        )
        return [_settlement(r) for r in rows]

    def lock_submitted_with_nonce(self, nonce: int) -> list[Settlement]:
        rows = (
            connection()
            .execute(
                f"SELECT {_COLUMNS} FROM settlements WHERE status = %s AND nonce = %s ORDER BY session_id FOR UPDATE",
                (ST.SUBMITTED.value, nonce),
            )
            .fetchall()
        )
        return [_settlement(r) for r in rows]

    def mark_submitted(self, session_ids: Sequence[str], tx: SignedTx) -> None:
        connection().execute(
            """
            UPDATE settlements SET status = %(submitted)s, tx_hash = %(hash)s, nonce = %(nonce)s,
                   max_fee_per_gas = %(max_fee)s, priority_fee_per_gas = %(priority)s,
                   submitted_at = clock_timestamp(), attempts = attempts + 1, updated_at = clock_timestamp()
            WHERE session_id = ANY(%(ids)s::uuid[])
            """,
            {
                "submitted": ST.SUBMITTED.value,
                "hash": tx.tx_hash,
                "nonce": tx.nonce,
                "max_fee": tx.fees.max_fee_per_gas,
                "priority": tx.fees.priority_fee_per_gas,
                "ids": list(session_ids),
            },
        )

    def retry_failed(self, session_id: str) -> bool:
        """FAILED → PENDING with a new request in the outbox (an operator's decision, after fixing the cause)."""
        row = (
            connection()
            .execute(
                """
                WITH reopened AS (
                    UPDATE settlements SET status = %(pending)s, failure = NULL, updated_at = clock_timestamp()
                    WHERE session_id = %(id)s AND status = %(failed)s RETURNING session_id
                )
                INSERT INTO outbox (kind, payload)
                SELECT %(kind)s, jsonb_build_object('sessionId', session_id::text) FROM reopened RETURNING id
                """,
                {"pending": ST.PENDING.value, "failed": ST.FAILED.value, "id": session_id, "kind": SETTLEMENT_REQUEST},
            )
            .fetchone()
        )
        return row is not None

    # -- the sweep -----------------------------------------------------------------------------------------------
    def requeue_stalled(self, older_than_s: int, limit: int) -> int:
        cursor = connection().execute(
            """
            WITH stalled AS (
                UPDATE settlements s SET updated_at = clock_timestamp()
                WHERE s.session_id IN (
                    SELECT session_id FROM settlements
                    WHERE status = ANY(%(open)s) AND updated_at < clock_timestamp() - make_interval(secs => %(after)s)
                      -- one request on its way is enough (an outage must not grow the outbox without bound)
                      AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.kind = %(kind)s AND o.delivered_at IS NULL
                                      AND o.payload->>'sessionId' = settlements.session_id::text)
                    ORDER BY updated_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
                RETURNING s.session_id
            )
            INSERT INTO outbox (kind, payload)
            SELECT %(kind)s, jsonb_build_object('sessionId', session_id::text) FROM stalled
            """,
            {"open": _OPEN, "after": older_than_s, "limit": limit, "kind": SETTLEMENT_REQUEST},
        )
        return cursor.rowcount

    def reconcile(self) -> int:
        """A CONFIRMED settlement must match its indexed Settled event: same consumer, operator, seconds and amount,
        and exactly one such event."""
        cursor = connection().execute(
            """
            WITH checked AS (
                SELECT s.session_id,
                       CASE
                         WHEN count(e.*) = 0 THEN 'settled:noEvent'
                         WHEN count(e.*) > 1 THEN 'settled:duplicateEvents'
                         WHEN max(e.consumer) IS DISTINCT FROM lower(s.consumer_wallet) THEN 'settled:consumer'
                         WHEN max(e.operator) IS DISTINCT FROM lower(s.operator_wallet) THEN 'settled:operator'
                         WHEN max(e.amount) IS DISTINCT FROM s.amount_micro_usdc THEN 'settled:amount'
                         WHEN max((e.args ->> 'chargeableSeconds')::bigint) IS DISTINCT FROM s.clean_seconds
                           THEN 'settled:seconds'
                       END AS discrepancy
                FROM settlements s
                LEFT JOIN chain_events e ON e.session_id = s.session_id AND e.event_name = %(settled)s
                WHERE s.status = %(confirmed)s AND s.discrepancy IS NULL
                GROUP BY s.session_id
            )
            UPDATE settlements s SET discrepancy = c.discrepancy, updated_at = clock_timestamp()
            FROM checked c WHERE c.session_id = s.session_id AND c.discrepancy IS NOT NULL
            """,
            {"confirmed": ST.CONFIRMED.value, "settled": ContractEvent.SETTLED.value},
        )
        return cursor.rowcount

    def oldest_unsettled_s(self) -> float:
        row = fetch_one(
            "SELECT coalesce(extract(epoch FROM clock_timestamp() - min(created_at)), 0) AS age"
            " FROM settlements WHERE status = ANY(%s)",
            (_OPEN,),
        )
        return float(row["age"]) if row else 0.0

    def failed_count(self) -> int:
        row = fetch_one("SELECT count(*) AS n FROM settlements WHERE status = %s", (ST.FAILED.value,))
        return int(row["n"]) if row else 0

    # -- views ---------------------------------------------------------------------------------------------------
    def holds(self, wallet: str, block: int) -> list[dict[str, Any]]:
        return fetch_all(
            "SELECT session_id::text, workspace_id::text, state, amount FROM lx_wallet_holds(%s, %s)"
            " ORDER BY created_at DESC, session_id DESC",
            (wallet, block),
        )

    def wallet_events(
        self, contract: str, wallet: str, after: tuple[int, int] | None, limit: int
    ) -> list[dict[str, Any]]:
        """The indexed events touching `wallet`'s pool or earnings, newest first, keyset-paginated."""
        keyset = "AND (block_number, log_index) < (%(block)s, %(index)s)" if after else ""
        params: dict[str, Any] = {"contract": contract.lower(), "wallet": wallet.lower(), "limit": limit}
        if after:
            params |= {"block": after[0], "index": after[1]}
        return fetch_all(
            f"""
            SELECT * FROM (
                (SELECT * FROM chain_events WHERE contract = %(contract)s AND consumer = %(wallet)s {keyset}
                 ORDER BY block_number DESC, log_index DESC LIMIT %(limit)s)
                UNION
                (SELECT * FROM chain_events WHERE contract = %(contract)s AND operator = %(wallet)s {keyset}
                 ORDER BY block_number DESC, log_index DESC LIMIT %(limit)s)
            ) both_sides ORDER BY block_number DESC, log_index DESC LIMIT %(limit)s
            """,
            params,
        )

    def withdrawn(self, contract: str, wallet: str) -> int:
        row = fetch_one(
            "SELECT coalesce(sum(amount), 0) AS n FROM chain_events"
            " WHERE contract = %s AND operator = %s AND event_name = %s",
            (contract.lower(), wallet.lower(), ContractEvent.EARNINGS_WITHDRAWN.value),
        )
        return int(row["n"]) if row else 0

    def indexed_head(self, contract: str) -> int | None:
        row = fetch_one("SELECT max(block_number) AS n FROM chain_blocks WHERE contract = %s", (contract.lower(),))
        return None if row is None or row["n"] is None else int(row["n"])


class PgChainIndexStore:
    @contextmanager
    def atomic(self) -> Iterator[None]:
        with transaction():
            yield

    def recent_blocks(self, contract: str, limit: int) -> list[tuple[int, str]]:
        rows = fetch_all(
            "SELECT block_number, block_hash FROM chain_blocks WHERE contract = %s ORDER BY block_number DESC LIMIT %s",
            (contract.lower(), limit),
        )
        return [(int(r["block_number"]), r["block_hash"]) for r in rows]

    def record(self, contract: str, events: Sequence[ChainEvent], block: tuple[int, str], keep_blocks: int) -> None:
        conn, address = connection(), contract.lower()
        for e in events:
            conn.execute(
                """
                INSERT INTO chain_events (contract, block_number, log_index, block_hash, tx_hash, event_name,
                                          session_id, consumer, operator, amount, args)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (contract, block_number, log_index) DO NOTHING
                """,
                (
                    address,
                    e.block_number,
                    e.log_index,
                    e.block_hash,
                    e.tx_hash,
                    e.name,
                    e.session_id,
                    e.consumer,
                    e.operator,
                    e.amount,
                    json.dumps(e.args),
                ),
            )
        conn.execute(
            "INSERT INTO chain_blocks (contract, block_number, block_hash) VALUES (%s, %s, %s)"
            " ON CONFLICT (contract, block_number) DO UPDATE SET block_hash = EXCLUDED.block_hash",
            (address, block[0], block[1]),
        )
        conn.execute(
            "DELETE FROM chain_blocks WHERE contract = %s AND block_number < %s", (address, block[0] - keep_blocks)
        )

    def fail_if_sent_in(self, session_id: str, tx_hash: str, failure: str) -> None:
        connection().execute(
            "UPDATE settlements SET status = %s, failure = %s, updated_at = clock_timestamp()"
            " WHERE session_id = %s AND status = ANY(%s) AND tx_hash = %s",
            (ST.FAILED.value, failure, session_id, _OPEN, tx_hash),
        )

    def confirm(self, e: ChainEvent) -> None:
        conn = connection()
        conn.execute(
            """
            UPDATE settlements SET status = %(confirmed)s, tx_hash = %(tx)s, block_number = %(block)s,
                   block_hash = %(hash)s, failure = NULL, updated_at = clock_timestamp()
            WHERE session_id = %(id)s AND status <> %(confirmed)s
            """,
            {
                "confirmed": ST.CONFIRMED.value,
                "tx": e.tx_hash,
                "block": e.block_number,
                "hash": e.block_hash,
                "id": e.session_id,
            },
        )
        conn.execute(
            "UPDATE sessions SET settlement_tx_hash = %s, updated_at = clock_timestamp()"
            " WHERE id = %s AND settlement_tx_hash IS DISTINCT FROM %s",
            (e.tx_hash, e.session_id, e.tx_hash),
        )

    def rewind(self, contract: str, to_block: int) -> int:
        conn, address = connection(), contract.lower()
        undone = conn.execute(
            """
            WITH gone AS (
                DELETE FROM chain_events WHERE contract = %(c)s AND block_number > %(to)s
                RETURNING session_id, event_name, tx_hash, args ->> 'reason' AS reason
            ), reopened AS (
                -- Only the outcomes those events decided: a confirmation in a dropped block, a failure by a skip
                -- (for a reason of its own) in the row's latest transaction.
                UPDATE settlements s SET status = %(submitted)s, block_number = NULL, block_hash = NULL,
                       failure = NULL, updated_at = clock_timestamp()
                WHERE (s.status = %(confirmed)s AND s.block_number > %(to)s
                       AND s.session_id IN (SELECT session_id FROM gone WHERE event_name = %(settled)s))
                   OR (s.status = %(failed)s AND EXISTS (
                         SELECT 1 FROM gone g WHERE g.session_id = s.session_id AND g.event_name = %(skipped)s
                           AND g.tx_hash = s.tx_hash AND g.reason IS DISTINCT FROM %(already)s))
                RETURNING s.session_id
            ), cleared AS (
                UPDATE sessions x SET settlement_tx_hash = NULL FROM reopened r WHERE x.id = r.session_id
            )
            SELECT count(*) AS n FROM gone
            """,
            {
                "c": address,
                "to": to_block,
                "submitted": ST.SUBMITTED.value,
                "confirmed": ST.CONFIRMED.value,
                "failed": ST.FAILED.value,
                "settled": ContractEvent.SETTLED.value,
                "skipped": ContractEvent.SETTLEMENT_SKIPPED.value,
                "already": ALREADY_SETTLED,
            },
        ).fetchone()
        conn.execute("DELETE FROM chain_blocks WHERE contract = %s AND block_number > %s", (address, to_block))
        return int(undone["n"]) if undone else 0
