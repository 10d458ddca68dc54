"""The sweep Lambda: pre-LIVE expiry, max-duration expiry with the meter, outbox redelivery."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from functions.sweep.handler import lambda_handler
from luxxon import wiring
from luxxon.config import get_settings
from luxxon.errors import InvalidState
from luxxon.local.gateway import LambdaContext
from luxxon.models.sessions import DisconnectReason
from tests.conftest import Api, RunningEdge, WorkspaceFactory, unique_place

pytestmark = pytest.mark.usefixtures("video_env")


def sweep() -> dict[str, int]:
    return lambda_handler({"detail-type": "Scheduled Event"}, LambdaContext("sweep", "test"))


def past_deadline(database_url: str, session_id: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE sessions SET wait_deadline_at = now() - interval '1 second' WHERE id = %s", (session_id,))


def test_a_started_session_that_never_went_live_expires_and_lets_go_of_everything(
    api: Api, workspace: WorkspaceFactory, database_url: str, video_env: RunningEdge
) -> None:
    consumer, operator = workspace("CONSUMER"), workspace("SUPPLIER")
    session_id = api("POST", "/api/v1/sessions", consumer.key, {"lat": 1, "lng": 2}).data["id"]
    api("POST", f"/api/v1/sessions/{session_id}/accept", operator.key)
    ref = api("POST", f"/api/v1/sessions/{session_id}/start", operator.key).data["videoBackendRef"]
    fresh = api("POST", "/api/v1/sessions", consumer.key, {"lat": 1, "lng": 2}).data["id"]
    past_deadline(database_url, session_id)

    assert sweep()["expiredWaiting"] >= 1

    expired = api("GET", f"/api/v1/sessions/{session_id}", consumer.key).data
    assert (expired["state"], expired["startedAt"], expired["cleanSeconds"]) == ("EXPIRED", None, 0)
    assert expired["videoBackendRef"] is None
    assert video_env.client().get_live_input(ref) is None
    assert api("GET", "/api/v1/workspaces/me", operator.key).data["availability"] == "ONLINE"
    assert api("GET", f"/api/v1/sessions/{fresh}", consumer.key).data["state"] == "REQUESTED"
    reply = api("POST", f"/api/v1/sessions/{session_id}/accept", workspace("SUPPLIER").key)
    assert reply.error == ("INVALID_STATE", "session:accept:EXPIRED")


def test_a_live_session_past_its_max_duration_expires_with_the_meter_capped_at_the_hold(
    api: Api, workspace: WorkspaceFactory
) -> None:
    consumer, operator = workspace("CONSUMER"), workspace("SUPPLIER")
    created = api("POST", "/api/v1/sessions", consumer.key, {"lat": 1, "lng": 2, "maxDurationSeconds": 10}).data
    api("POST", f"/api/v1/sessions/{created['id']}/accept", operator.key)
    wiring.sessions().go_live(created["id"], datetime.now(UTC) - timedelta(seconds=30))

    assert sweep()["expiredLive"] >= 1

    expired = api("GET", f"/api/v1/sessions/{created['id']}", consumer.key).data
    assert (expired["state"], expired["cleanSeconds"]) == ("EXPIRED", 10)
    assert expired["chargedMicroUsdc"] == created["holdMicroUsdc"]
    assert expired["endedAt"] is not None


def test_live_sessions_within_their_duration_are_left_alone(api: Api, workspace: WorkspaceFactory) -> None:
    consumer, operator = workspace("CONSUMER"), workspace("SUPPLIER")
    session_id = api("POST", "/api/v1/sessions", consumer.key, {"lat": 1, "lng": 2}).data["id"]
    api("POST", f"/api/v1/sessions/{session_id}/accept", operator.key)
    wiring.sessions().go_live(session_id, datetime.now(UTC))
    sweep()
    assert api("GET", f"/api/v1/sessions/{session_id}", consumer.key).data["state"] == "LIVE"


def test_an_overrun_is_billed_up_to_the_maximum_duration_minus_the_windows_inside_it(
    api: Api, workspace: WorkspaceFactory, video_env: RunningEdge
) -> None:
    # Given a started 10 s session that went LIVE 30 s ago and was disconnected from second 2 to second 7
    consumer, operator = workspace("CONSUMER"), workspace("SUPPLIER")
    created = api("POST", "/api/v1/sessions", consumer.key, {"lat": 1, "lng": 2, "maxDurationSeconds": 10}).data
    api("POST", f"/api/v1/sessions/{created['id']}/accept", operator.key)
    ref = api("POST", f"/api/v1/sessions/{created['id']}/start", operator.key).data["videoBackendRef"]
    started = datetime.now(UTC) - timedelta(seconds=30)
    wiring.sessions().go_live(created["id"], started)
    reason = DisconnectReason.NETWORK_ERROR
    wiring.sessions().disconnected(created["id"], reason, started + timedelta(seconds=2))
    wiring.sessions().reconnected(created["id"], reason, started + timedelta(seconds=7))
    # When the sweep ends it, 20 s past its maximum
    sweep()
    # Then 5 clean seconds are charged (10 − 5), not 10: the overrun does not refill the disconnected time
    expired = api("GET", f"/api/v1/sessions/{created['id']}", consumer.key).data
    assert (expired["state"], expired["cleanSeconds"]) == ("EXPIRED", 5)
    assert expired["chargedMicroUsdc"] == str(5 * int(created["ratePerSecondMicroUsdc"]))
    # and its live input is torn down and the operator released
    assert video_env.client().get_live_input(ref) is None
    assert api("GET", "/api/v1/workspaces/me", operator.key).data["availability"] == "ONLINE"


def test_wait_deadlines_come_from_wait_timeout_seconds(
    api: Api, workspace: WorkspaceFactory, video_env: RunningEdge
) -> None:
    # Given sessions with the shortest wait (5 s): one nobody accepts, one accepted and never started, one started
    # that never publishes, and one that went LIVE in time
    here, area = unique_place()  # so the inbox below shows exactly what this test requested
    consumer = workspace("CONSUMER")
    operator, latecomer = workspace("SUPPLIER", coverage=area), workspace("SUPPLIER", coverage=area)

    def create() -> str:
        body = {**here, "waitTimeoutSeconds": 5}
        return str(api("POST", "/api/v1/sessions", consumer.key, body).data["id"])

    never_accepted, never_started, never_live, live = create(), create(), create(), create()
    for session_id in (never_started, never_live, live):
        assert api("POST", f"/api/v1/sessions/{session_id}/accept", operator.key).status == 200
    ref = api("POST", f"/api/v1/sessions/{never_live}/start", operator.key).data["videoBackendRef"]
    wiring.sessions().go_live(live, datetime.now(UTC))
    # When the deadline passes (nothing set in SQL: createdAt + waitTimeoutSeconds)
    time.sleep(5.2)
    # Then a supplier can no longer accept, nor see it in its inbox, even before the sweep runs
    reply = api("POST", f"/api/v1/sessions/{never_accepted}/accept", latecomer.key)
    assert (reply.status, reply.error) == (409, ("INVALID_STATE", "session:accept:EXPIRED"))
    assert api("GET", "/api/v1/sessions/inbox", latecomer.key).data["items"] == []
    # And a first frame now does not make the started one LIVE: it expires, and its live input is torn down
    with pytest.raises(InvalidState) as late:
        wiring.sessions().go_live(never_live, datetime.now(UTC))
    assert late.value.current == "EXPIRED"
    assert video_env.client().get_live_input(ref) is None
    # And the operator cannot start the one it accepted but never started (the sweep expires it)
    late_start = api("POST", f"/api/v1/sessions/{never_started}/start", operator.key)
    assert (late_start.status, late_start.error) == (409, ("INVALID_STATE", "session:start:EXPIRED"))
    # And the sweep expires the two still waiting, and leaves the LIVE one alone
    sweep()
    states = {
        s: api("GET", f"/api/v1/sessions/{s}", consumer.key).data["state"]
        for s in (never_accepted, never_started, never_live, live)
    }
    assert states == {never_accepted: "EXPIRED", never_started: "EXPIRED", never_live: "EXPIRED", live: "LIVE"}
    expired = api("GET", f"/api/v1/sessions/{never_started}", consumer.key).data
    assert (expired["startedAt"], expired["endedAt"]) == (None, None)


def test_a_live_input_no_session_holds_is_deleted_and_held_ones_are_kept(
    api: Api, workspace: WorkspaceFactory, video_env: RunningEdge, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a deployment (stage) of its own on the shared edge, whose live inputs only this test creates: the edge also
    # holds the run's other tests' inputs, some of them held by sessions in other databases
    stage = f"sweep-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("LX_STAGE", stage)
    get_settings.cache_clear()
    wiring.reset()
    # And a /start that crashed after creating its live input and before committing (the input is named after the
    # session, which holds nothing), a properly started session, and live inputs something else in the account owns
    consumer, operator = workspace("CONSUMER"), workspace("SUPPLIER")
    crashed, held = (api("POST", "/api/v1/sessions", consumer.key, {"lat": 1, "lng": 2}).data["id"] for _ in range(2))
    for session_id in (crashed, held):
        api("POST", f"/api/v1/sessions/{session_id}/accept", operator.key)
    orphan = video_env.client().create_live_input(f"luxxon:{stage}:{crashed}").uid
    kept = api("POST", f"/api/v1/sessions/{held}/start", operator.key).data["videoBackendRef"]
    foreign = video_env.client().create_live_input("someone else's input").uid
    other_stage = video_env.client().create_live_input(f"luxxon:prod:{crashed}").uid  # a shared account
    # When the sweep runs once the orphan is old enough (here: at once)
    monkeypatch.setenv("LX_ORPHAN_LIVE_INPUT_AFTER_S", "0")
    get_settings.cache_clear()
    wiring.reset()
    assert sweep()["orphansDeleted"] == 1
    # Then only the orphan is gone
    client = video_env.client()
    assert (client.get_live_input(orphan), client.get_live_input(kept) is not None) == (None, True)
    assert client.get_live_input(foreign) is not None and client.get_live_input(other_stage) is not None
    client.delete_live_input(foreign)
    client.delete_live_input(other_stage)


def test_leases_long_expired_are_pruned(api: Api, workspace: WorkspaceFactory, database_url: str) -> None:
    consumer = workspace("CONSUMER")
    session_id = api("POST", "/api/v1/sessions", consumer.key, {"lat": 1, "lng": 2}).data["id"]
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO decoder_leases (session_id, owner, expires_at) VALUES (%s, 'dead-host:1:x', %s)",
            (session_id, datetime.now(UTC) - timedelta(hours=2)),
        )
    assert sweep()["pruned"] >= 1
    with psycopg.connect(database_url) as conn:
        left = conn.execute("SELECT count(*) FROM decoder_leases WHERE session_id = %s", (session_id,)).fetchone()
    assert left == (0,)
