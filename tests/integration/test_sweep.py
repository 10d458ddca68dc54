"""The sweep Lambda: pre-LIVE expiry, max-duration expiry with the meter, outbox redelivery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from functions.sweep.handler import lambda_handler
from luxxon import wiring
from luxxon.local.gateway import LambdaContext
from tests.conftest import Api, RunningEdge, WorkspaceFactory

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
