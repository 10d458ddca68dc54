"""Idempotency keys on POST (luxxon/domain/idempotency.py, luxxon/db/idempotency.py, luxxon/api/idempotency.py)."""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from luxxon import wiring
from luxxon.api.consistency import PATTERN
from luxxon.domain.ports.workspaces import Principal
from luxxon.models.sessions import CreateSessionRequest
from tests.conftest import Api, Reply, Workspace, WorkspaceFactory

BODY = {"lat": 1, "lng": 2, "maxDurationSeconds": 60}


def key() -> dict[str, str]:
    return {"Idempotency-Key": f"retry-{uuid.uuid4()}"}


def sessions_of(database_url: str, workspace: Workspace) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM sessions WHERE consumer_workspace_id = %s", (workspace.id,)).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def consumer(workspace: WorkspaceFactory) -> Workspace:
    return workspace("CONSUMER")


def test_a_retried_create_replays_the_first_response_and_creates_nothing(
    api: Api, consumer: Workspace, database_url: str
) -> None:
    headers = key()
    first = api("POST", "/api/v1/sessions", consumer.key, BODY, headers=headers)
    again = api(
        "POST", "/api/v1/sessions", consumer.key, {"lng": 2, "maxDurationSeconds": 60, "lat": 1.0}, headers=headers
    )
    assert (first.status, again.status) == (201, 201)
    assert again.data == first.data
    assert again.headers.get("idempotent-replayed") == "true" and "idempotent-replayed" not in first.headers
    assert again.headers["x-lx-consistency-token"] == first.headers["x-lx-consistency-token"]
    assert sessions_of(database_url, consumer) == 1


def test_a_replay_in_a_fresh_sandbox_carries_the_first_responses_sealed_token(api: Api, consumer: Workspace) -> None:
    # Given a keyed create, answered with a sealed token (no transaction counter shows)
    headers = key()
    first = api("POST", "/api/v1/sessions", consumer.key, BODY, headers=headers)
    token = first.headers["x-lx-consistency-token"]
    assert re.fullmatch(PATTERN, token)
    # When its retry reaches a sandbox that built everything anew (the key comes from the deployment, not the process)
    wiring.reset()
    again = api("POST", "/api/v1/sessions", consumer.key, BODY, headers=headers)
    # Then the replay carries the very same token
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.headers["x-lx-consistency-token"] == token


def test_the_same_key_with_another_request_is_refused_and_changes_nothing(
    api: Api, consumer: Workspace, database_url: str
) -> None:
    headers = key()
    api("POST", "/api/v1/sessions", consumer.key, BODY, headers=headers)
    other = api("POST", "/api/v1/sessions", consumer.key, {**BODY, "lat": 3}, headers=headers)
    assert (other.status, other.error) == (409, ("IDEMPOTENCY_CONFLICT", "idempotency:keyReused"))
    assert sessions_of(database_url, consumer) == 1


def test_a_refusal_stores_nothing_so_the_corrected_retry_goes_through(
    api: Api, consumer: Workspace, database_url: str
) -> None:
    headers = key()
    refused = api("POST", "/api/v1/sessions", consumer.key, {**BODY, "maxDurationSeconds": 5}, headers=headers)
    assert (refused.status, refused.error) == (400, ("INVALID_INPUT", "input:maxDurationSeconds"))
    assert api("POST", "/api/v1/sessions", consumer.key, BODY, headers=headers).status == 201
    assert sessions_of(database_url, consumer) == 1


def test_keys_belong_to_a_workspace(api: Api, workspace: WorkspaceFactory, database_url: str) -> None:
    headers = key()
    first, second = workspace("CONSUMER"), workspace("CONSUMER")
    a = api("POST", "/api/v1/sessions", first.key, BODY, headers=headers).data
    b = api("POST", "/api/v1/sessions", second.key, BODY, headers=headers).data
    assert a["id"] != b["id"]
    assert (sessions_of(database_url, first), sessions_of(database_url, second)) == (1, 1)


@pytest.mark.parametrize(
    "malformed",
    ["", "k" * 256, "clé-é", "ключ", "retry\x00", "retry\tone", "retry\n"],
    ids=["empty", "too-long", "latin-1", "cyrillic", "nul", "tab", "newline"],
)
def test_a_malformed_key_is_bad_input_and_creates_nothing(
    api: Api, consumer: Workspace, database_url: str, malformed: str
) -> None:
    reply = api("POST", "/api/v1/sessions", consumer.key, BODY, headers={"Idempotency-Key": malformed})
    assert (reply.status, reply.error) == (400, ("INVALID_INPUT", "input:Idempotency-Key"))
    assert sessions_of(database_url, consumer) == 0


def test_a_malformed_key_on_a_route_without_a_body_is_bad_input_and_cancels_nothing(
    api: Api, consumer: Workspace, workspace: WorkspaceFactory
) -> None:
    operator = workspace("SUPPLIER")
    session_id = api("POST", "/api/v1/sessions", consumer.key, BODY).data["id"]
    assert api("POST", f"/api/v1/sessions/{session_id}/accept", operator.key).status == 200
    reply = api("POST", "/api/v1/sessions/cancel-all-assignments", operator.key, headers={"Idempotency-Key": "ключ"})
    assert (reply.status, reply.error) == (400, ("INVALID_INPUT", "input:Idempotency-Key"))
    assert api("GET", f"/api/v1/sessions/{session_id}", consumer.key).data["state"] == "ASSIGNED"


def test_the_longest_printable_ascii_key_is_accepted(api: Api, consumer: Workspace) -> None:
    longest = {"Idempotency-Key": "".join(chr(32 + i % 95) for i in range(255))}  # every printable ASCII character
    first = api("POST", "/api/v1/sessions", consumer.key, BODY, headers=longest)
    again = api("POST", "/api/v1/sessions", consumer.key, BODY, headers=longest)
    assert (first.status, again.status, again.data["id"]) == (201, 201, first.data["id"])


def quotes_of(database_url: str, workspace: Workspace) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM quotes WHERE consumer_workspace_id = %s", (workspace.id,)).fetchone()
    assert row is not None
    return int(row[0])


def test_a_retried_quote_replays_the_first_quote_and_creates_no_second(
    api: Api, consumer: Workspace, database_url: str
) -> None:
    # Given a quote requested with an Idempotency-Key
    headers = key()
    first = api("POST", "/api/v1/pricing/quotes", consumer.key, {"lat": 1, "lng": 2}, headers=headers)
    # When the client retries it (the same request, formatted otherwise), and then reuses the key for another point
    again = api("POST", "/api/v1/pricing/quotes", consumer.key, {"lng": 2.0, "lat": 1.0}, headers=headers)
    other = api("POST", "/api/v1/pricing/quotes", consumer.key, {"lat": 3, "lng": 2}, headers=headers)
    # Then the retry is the first quote (same id, rate, expiry and consistency token), and no second quote exists
    assert (first.status, again.status) == (201, 201)
    assert again.data == first.data
    assert again.headers.get("idempotent-replayed") == "true" and "idempotent-replayed" not in first.headers
    assert again.headers["x-lx-consistency-token"] == first.headers["x-lx-consistency-token"]
    assert (other.status, other.error) == (409, ("IDEMPOTENCY_CONFLICT", "idempotency:keyReused"))
    assert quotes_of(database_url, consumer) == 1
    # And the quote it replays is the one POST /sessions takes
    created = api("POST", "/api/v1/sessions", consumer.key, {"lat": 1, "lng": 2, "quoteId": again.data["quoteId"]})
    assert (created.status, created.data["ratePerSecondMicroUsdc"]) == (201, first.data["ratePerSecondMicroUsdc"])


def test_a_retried_accept_replays_the_acceptance_instead_of_a_conflict(
    api: Api, consumer: Workspace, workspace
) -> None:
    supplier = workspace("SUPPLIER")
    session_id = api("POST", "/api/v1/sessions", consumer.key, BODY).data["id"]
    headers = key()
    first = api("POST", f"/api/v1/sessions/{session_id}/accept", supplier.key, headers=headers)
    again = api("POST", f"/api/v1/sessions/{session_id}/accept", supplier.key, headers=headers)
    plain = api("POST", f"/api/v1/sessions/{session_id}/accept", supplier.key)
    assert (first.status, again.status, again.data) == (200, 200, first.data)
    assert (plain.status, plain.error) == (409, ("INVALID_STATE", "session:accept:ASSIGNED"))


def live_session(api: Api, consumer: Workspace, operator: Workspace) -> str:
    session_id = api("POST", "/api/v1/sessions", consumer.key, BODY).data["id"]
    assert api("POST", f"/api/v1/sessions/{session_id}/accept", operator.key).status == 200
    wiring.sessions().go_live(session_id, datetime.now(UTC) - timedelta(seconds=5))
    return str(session_id)


def assert_replayed(first: Reply, again: Reply) -> None:
    """`again` is the first answer replayed: the same status, data and consistency token, marked as a replay."""
    assert (again.status, again.data) == (first.status, first.data)
    assert again.headers.get("x-lx-consistency-token") == first.headers.get("x-lx-consistency-token")
    assert again.headers.get("idempotent-replayed") == "true" and "idempotent-replayed" not in first.headers


def test_a_retried_end_replays_the_ending_instead_of_a_conflict(
    api: Api, consumer: Workspace, workspace: WorkspaceFactory
) -> None:
    # Given a LIVE session the consumer ends with a key
    session_id = live_session(api, consumer, workspace("SUPPLIER"))
    headers = key()
    first = api("POST", f"/api/v1/sessions/{session_id}/end", consumer.key, headers=headers)
    assert (first.status, first.data["state"]) == (200, "ENDED")
    # When the response is lost and the client retries with the same key
    again = api("POST", f"/api/v1/sessions/{session_id}/end", consumer.key, headers=headers)
    # Then it gets the ending it missed (the same bill), where a request without the key learns the session ended
    assert_replayed(first, again)
    plain = api("POST", f"/api/v1/sessions/{session_id}/end", consumer.key)
    assert (plain.status, plain.error) == (409, ("INVALID_STATE", "session:end:ENDED"))


@pytest.mark.usefixtures("video_env")
def test_a_retried_start_replays_the_first_answer_even_after_the_session_moved_on(
    api: Api, consumer: Workspace, workspace: WorkspaceFactory
) -> None:
    # Given an operator that started a session with a key
    operator = workspace("SUPPLIER")
    session_id = api("POST", "/api/v1/sessions", consumer.key, BODY).data["id"]
    assert api("POST", f"/api/v1/sessions/{session_id}/accept", operator.key).status == 200
    headers = key()
    first = api("POST", f"/api/v1/sessions/{session_id}/start", operator.key, headers=headers)
    assert first.status == 200 and first.data["whipUrl"]
    # When it retries with the same key: at once, and again after the consumer cancelled the session
    again = api("POST", f"/api/v1/sessions/{session_id}/start", operator.key, headers=headers)
    assert api("DELETE", f"/api/v1/sessions/{session_id}", consumer.key).status == 200
    later = api("POST", f"/api/v1/sessions/{session_id}/start", operator.key, headers=headers)
    # Then both retries replay the first answer, where a start without the key finds the session cancelled
    assert_replayed(first, again)
    assert_replayed(first, later)
    plain = api("POST", f"/api/v1/sessions/{session_id}/start", operator.key)
    assert (plain.status, plain.error) == (409, ("INVALID_STATE", "session:start:CANCELLED"))


def test_a_retried_cancel_all_replays_what_the_first_call_cancelled(
    api: Api, consumer: Workspace, workspace: WorkspaceFactory
) -> None:
    # Given an operator holding two assigned sessions, which it cancels all at once with a key
    operator = workspace("SUPPLIER")
    ids = []
    for _ in range(2):
        ids.append(api("POST", "/api/v1/sessions", consumer.key, BODY).data["id"])
        assert api("POST", f"/api/v1/sessions/{ids[-1]}/accept", operator.key).status == 200
    headers = key()
    first = api("POST", "/api/v1/sessions/cancel-all-assignments", operator.key, headers=headers)
    assert (first.status, first.data) == (200, {"count": 2, "cancelled": ids})
    # When it retries with the same key
    again = api("POST", "/api/v1/sessions/cancel-all-assignments", operator.key, headers=headers)
    # Then it learns what its first call cancelled, where a call without the key finds nothing left to cancel
    assert_replayed(first, again)
    plain = api("POST", "/api/v1/sessions/cancel-all-assignments", operator.key)
    assert (plain.status, plain.data) == (200, {"count": 0, "cancelled": []})


def test_a_crash_before_commit_leaves_neither_the_session_nor_the_key(
    api: Api, consumer: Workspace, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = key()
    service = wiring.sessions()

    def crash(*_: object) -> None:
        raise RuntimeError("the process died here")

    with monkeypatch.context() as patch:
        patch.setattr(service.idempotency.store, "complete", crash)
        assert api("POST", "/api/v1/sessions", consumer.key, BODY, headers=headers).status == 500
    assert sessions_of(database_url, consumer) == 0
    assert api("POST", "/api/v1/sessions", consumer.key, BODY, headers=headers).status == 201
    assert sessions_of(database_url, consumer) == 1


def test_concurrent_retries_with_one_key_create_one_session(
    consumer: Workspace, database_url: str, own_connections: Callable[..., None]
) -> None:
    # Given eight copies of one create, each on its own connection (as eight Lambda sandboxes), released together
    from luxxon.domain.idempotency import IdempotencyKey

    own_connections("luxxon.db.sessions", "luxxon.db.idempotency")
    me = Principal(consumer.id, consumer.key_id, frozenset({"sessions:create"}), frozenset({"CONSUMER"}))
    request = CreateSessionRequest(**BODY)
    idem = IdempotencyKey.of(consumer.id, "one-key", "POST", "/api/v1/sessions", request.model_dump_json())
    barrier, ids, replays = threading.Barrier(8), [], []

    def create() -> None:
        barrier.wait()
        written = wiring.sessions().create(me, request, idem)
        ids.append(written.value.id)
        replays.append(written.replayed)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    # Then exactly one session exists, every copy got its id, and seven of them were replays
    assert len(set(ids)) == 1 and len(ids) == 8
    assert sorted(replays) == [False] + [True] * 7
    assert sessions_of(database_url, consumer) == 1


def test_a_key_is_kept_for_its_retention_then_forgotten(api: Api, consumer: Workspace, database_url: str) -> None:
    headers = key()
    first = api("POST", "/api/v1/sessions", consumer.key, BODY, headers=headers).data
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = %s",
            (headers["Idempotency-Key"],),
        )
    later = api("POST", "/api/v1/sessions", consumer.key, BODY, headers=headers).data
    assert later["id"] != first["id"]


def test_a_retried_api_key_creation_creates_no_second_key_and_never_replays_the_secret(
    api: Api, consumer: Workspace, database_url: str
) -> None:
    headers = key()
    body = {"name": "agent", "scopes": ["sessions:read"]}
    first = api("POST", "/api/v1/api-keys", consumer.key, body, headers=headers)
    again = api("POST", "/api/v1/api-keys", consumer.key, body, headers=headers)
    assert first.status == 201 and first.data["key"].startswith("lxxn_")
    assert (again.status, again.error) == (409, ("IDEMPOTENCY_CONFLICT", "idempotency:secretNotReplayable"))
    assert first.data["key"] not in json.dumps(again.body)
    names = [k["name"] for k in api("GET", "/api/v1/api-keys", consumer.key).data["items"]]
    assert names.count("agent") == 1
    with psycopg.connect(database_url) as conn:
        kept = conn.execute("SELECT response::text FROM idempotency_keys WHERE key = %s", (headers["Idempotency-Key"],))
        assert first.data["key"] not in kept.fetchone()[0]  # the secret is never stored


def test_two_keyed_writes_of_one_operator_do_not_deadlock(
    workspace: WorkspaceFactory, own_connections: Callable[..., None]
) -> None:
    # Given two units of work of one operator, each claiming an idempotency key (its foreign key takes KEY SHARE on
    # the workspace row) and then locking the operator (as accept and start do), interleaved
    operator = workspace("SUPPLIER")
    own_connections("luxxon.db.sessions", "luxxon.db.idempotency")
    import luxxon.db.sessions as db_sessions
    from luxxon.db.idempotency import PgIdempotencyStore
    from luxxon.db.sessions import PgSessionStore

    claimed, outcomes = threading.Barrier(2), []

    def unit(name: str) -> None:
        try:
            with db_sessions.connection().transaction():
                PgIdempotencyStore(3600).claim(operator.id, f"{name}-{uuid.uuid4()}", b"x")
                claimed.wait(5)
                PgSessionStore().lock_workspaces([operator.id])
            outcomes.append("committed")
        except psycopg.errors.DeadlockDetected:
            outcomes.append("deadlock")

    threads = [threading.Thread(target=unit, args=(n,)) for n in ("start", "accept")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    # Then both commit (before: one of them was aborted as a deadlock victim)
    assert outcomes == ["committed", "committed"]
