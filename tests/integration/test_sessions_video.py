"""The video plane of a session through the API: /start, tokens, teardown, frames, and transitions racing /start."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from luxxon import wiring
from luxxon.adapters.frames import RedisFrameStore
from luxxon.api.consistency import open_token
from luxxon.config import get_settings
from luxxon.domain.ports.frames import Frame
from luxxon.domain.ports.video import LiveInput
from luxxon.domain.ports.workspaces import Principal
from luxxon.domain.sessions import SessionService
from tests.conftest import Api, RunningEdge, Workspace, assigned, started

pytestmark = pytest.mark.usefixtures("video_env")
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64 + b"\xff\xd9"


def availability(api: Api, who: Workspace) -> str:
    return api("GET", "/api/v1/workspaces/me", who.key).data["availability"]


@contextlib.contextmanager
def video_backend_at(api_base: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point the API's video backend somewhere else for a while (as a changed setting would)."""
    original = os.environ["LX_CLOUDFLARE_API_BASE"]
    monkeypatch.setenv("LX_CLOUDFLARE_API_BASE", api_base)
    get_settings.cache_clear()
    wiring.reset()
    try:
        yield
    finally:
        monkeypatch.setenv("LX_CLOUDFLARE_API_BASE", original)
        get_settings.cache_clear()
        wiring.reset()


@contextlib.contextmanager
def hanging_server() -> Iterator[tuple[str, Callable[[], int]]]:
    """A TCP server on 127.0.0.1 that accepts every connection and never answers; counts the connections."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/client/v4", lambda: len(accepted)
    finally:
        stop.set()
        thread.join(2)
        for conn in accepted:
            conn.close()
        listener.close()


class TestStart:
    def test_start_provisions_a_live_input_and_keeps_the_session_assigned(
        self, api: Api, parties, video_env: RunningEdge
    ) -> None:
        consumer, operator = parties
        s = started(api, consumer, operator)
        assert s["state"] == "ASSIGNED" and s["startedAt"] is None
        assert s["whipUrl"].startswith("http://127.0.0.1") and s["whepUrl"].startswith("http://127.0.0.1")
        live = video_env.client().get_live_input(s["videoBackendRef"])
        assert live is not None and (live.whip_url, live.whep_url) == (s["whipUrl"], s["whepUrl"])
        assert availability(api, operator) == "BUSY"

    def test_start_is_idempotent(self, api: Api, parties) -> None:
        consumer, operator = parties
        first = started(api, consumer, operator)
        again = api("POST", f"/api/v1/sessions/{first['id']}/start", operator.key).data
        assert (again["videoBackendRef"], again["whipUrl"], again["whepUrl"]) == (
            first["videoBackendRef"],
            first["whipUrl"],
            first["whepUrl"],
        )

    def test_start_after_live_returns_the_same_urls(self, api: Api, parties) -> None:
        consumer, operator = parties
        first = started(api, consumer, operator)
        wiring.sessions().go_live(first["id"], datetime.now(UTC))
        again = api("POST", f"/api/v1/sessions/{first['id']}/start", operator.key)
        assert again.status == 200
        assert (again.data["state"], again.data["whipUrl"]) == ("LIVE", first["whipUrl"])

    def test_the_consumer_cannot_start_and_a_stranger_cannot_see(self, api: Api, parties, workspace) -> None:
        consumer, operator = parties
        session_id = assigned(api, consumer, operator)
        both = workspace("CONSUMER", "SUPPLIER")
        reply = api("POST", f"/api/v1/sessions/{session_id}/start", consumer.key)
        assert reply.status == 403  # a consumer key has no sessions:operate
        reply = api("POST", f"/api/v1/sessions/{session_id}/start", both.key)
        assert (reply.status, reply.error[0]) == (404, "SESSION_NOT_FOUND")

    def test_start_outside_assigned_is_invalid_state(self, api: Api, parties) -> None:
        consumer, operator = parties
        session_id = api("POST", "/api/v1/sessions", consumer.key, {"lat": 1, "lng": 2}).data["id"]
        # the operator is not yet a party: nothing to see
        assert api("POST", f"/api/v1/sessions/{session_id}/start", operator.key).status == 404
        session_id = assigned(api, consumer, operator)
        api("DELETE", f"/api/v1/sessions/{session_id}", consumer.key)
        reply = api("POST", f"/api/v1/sessions/{session_id}/start", operator.key)
        assert (reply.status, reply.error) == (409, ("INVALID_STATE", "session:start:CANCELLED"))

    def test_the_whip_url_never_reaches_the_consumer(self, api: Api, parties) -> None:
        consumer, operator = parties
        s = started(api, consumer, operator)
        wiring.sessions().go_live(s["id"], datetime.now(UTC))
        seen = json.dumps(
            [
                api("GET", f"/api/v1/sessions/{s['id']}", consumer.key).body,
                api("GET", "/api/v1/sessions", consumer.key).body,
                api("GET", f"/api/v1/sessions/{s['id']}/viewer-token", consumer.key).body,
                api("GET", f"/api/v1/sessions/{s['id']}/producer-token", consumer.key).body,
            ]
        )
        assert s["whipUrl"] not in seen
        assert s["whepUrl"] in seen


class TestTokens:
    def test_viewer_token_for_both_sides_producer_token_for_the_operator(self, api: Api, parties) -> None:
        consumer, operator = parties
        s = started(api, consumer, operator)
        wiring.sessions().go_live(s["id"], datetime.now(UTC))
        for who in (consumer, operator):
            assert api("GET", f"/api/v1/sessions/{s['id']}/viewer-token", who.key).data == {"whepUrl": s["whepUrl"]}
        assert api("GET", f"/api/v1/sessions/{s['id']}/producer-token", operator.key).data == {"whipUrl": s["whipUrl"]}

    def test_a_consumer_asking_for_the_producer_token_is_not_the_operator(self, api: Api, workspace) -> None:
        consumer = workspace("CONSUMER", scopes=["sessions:create", "sessions:operate", "sessions:read"])
        operator = workspace("SUPPLIER")
        s = started(api, consumer, operator)
        reply = api("GET", f"/api/v1/sessions/{s['id']}/producer-token", consumer.key)
        assert (reply.status, reply.error) == (403, ("NOT_OPERATOR", "session:notOperator"))

    def test_the_consumer_sees_no_whep_url_before_live_and_the_operator_sees_it_from_start(
        self, api: Api, parties
    ) -> None:
        # Given a started session that is not LIVE yet (the seeds: whepUrl "Present when state=LIVE")
        consumer, operator = parties
        s = started(api, consumer, operator)
        # Then the consumer side gets no WHEP URL, from the session or from /viewer-token
        seen = api("GET", f"/api/v1/sessions/{s['id']}", consumer.key).data
        assert (seen["whepUrl"], seen["videoBackendRef"]) == (None, None)  # the live input id can address playback
        assert all(i["whepUrl"] is None for i in api("GET", "/api/v1/sessions", consumer.key).data["items"])
        reply = api("GET", f"/api/v1/sessions/{s['id']}/viewer-token", consumer.key)
        assert (reply.status, reply.error) == (409, ("INVALID_STATE", "session:viewerToken:ASSIGNED"))
        # while the operator side has it to preview its own feed
        assert api("GET", f"/api/v1/sessions/{s['id']}", operator.key).data["whepUrl"] == s["whepUrl"]
        # And once LIVE the consumer gets it
        wiring.sessions().go_live(s["id"], datetime.now(UTC))
        assert api("GET", f"/api/v1/sessions/{s['id']}", consumer.key).data["whepUrl"] == s["whepUrl"]

    def test_an_operator_key_without_sessions_operate_never_sees_the_whip_url(
        self, api: Api, parties, workspace
    ) -> None:
        # Given the operator workspace holds a read-only key besides its operating one
        consumer, operator = parties
        s = started(api, consumer, operator)
        created = api("POST", "/api/v1/api-keys", operator.key, {"name": "dashboard", "scopes": ["sessions:read"]})
        read_only = created.data["key"]
        # Then neither the session nor the list shows it the WHIP URL (/producer-token needs sessions:operate too)
        assert api("GET", f"/api/v1/sessions/{s['id']}", read_only).data["whipUrl"] is None
        assert all(i["whipUrl"] is None for i in api("GET", "/api/v1/sessions", read_only).data["items"])
        assert api("GET", f"/api/v1/sessions/{s['id']}/producer-token", read_only).status == 403
        assert api("GET", f"/api/v1/sessions/{s['id']}", operator.key).data["whipUrl"] == s["whipUrl"]

    def test_tokens_before_start_are_invalid_state(self, api: Api, parties) -> None:
        consumer, operator = parties
        session_id = assigned(api, consumer, operator)
        reply = api("GET", f"/api/v1/sessions/{session_id}/viewer-token", consumer.key)
        assert (reply.status, reply.error) == (409, ("INVALID_STATE", "session:viewerToken:ASSIGNED"))


class TestSeedBehaviours:
    def test_the_producer_token_before_start_is_invalid_state(self, api: Api, parties) -> None:
        consumer, operator = parties
        session_id = assigned(api, consumer, operator)
        reply = api("GET", f"/api/v1/sessions/{session_id}/producer-token", operator.key)
        assert (reply.status, reply.error) == (409, ("INVALID_STATE", "session:producerToken:ASSIGNED"))

    def test_tokens_after_end_are_invalid_state(self, api: Api, parties) -> None:
        consumer, operator = parties
        s = started(api, consumer, operator)
        wiring.sessions().go_live(s["id"], datetime.now(UTC))
        assert api("POST", f"/api/v1/sessions/{s['id']}/end", consumer.key).status == 200
        viewer = api("GET", f"/api/v1/sessions/{s['id']}/viewer-token", consumer.key)
        producer = api("GET", f"/api/v1/sessions/{s['id']}/producer-token", operator.key)
        assert (viewer.status, viewer.error) == (409, ("INVALID_STATE", "session:viewerToken:ENDED"))
        assert (producer.status, producer.error) == (409, ("INVALID_STATE", "session:producerToken:ENDED"))

    def test_the_consumer_is_not_the_operator_even_with_sessions_operate(self, api: Api, workspace) -> None:
        consumer = workspace("CONSUMER", scopes=["sessions:create", "sessions:operate", "sessions:read"])
        operator = workspace("SUPPLIER")
        session_id = assigned(api, consumer, operator)
        reply = api("POST", f"/api/v1/sessions/{session_id}/start", consumer.key)
        assert (reply.status, reply.error) == (403, ("NOT_OPERATOR", "session:notOperator"))
        assert api("GET", f"/api/v1/sessions/{session_id}", consumer.key).data["videoBackendRef"] is None

    def test_start_with_the_video_backend_down_is_502_and_changes_nothing(
        self, api: Api, parties, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        consumer, operator = parties
        session_id = assigned(api, consumer, operator)
        with video_backend_at("http://127.0.0.1:9/client/v4", monkeypatch):
            reply = api("POST", f"/api/v1/sessions/{session_id}/start", operator.key)
        assert (reply.status, reply.error) == (502, ("VIDEO_BACKEND_ERROR", "video:createLiveInput"))
        after = api("GET", f"/api/v1/sessions/{session_id}", operator.key).data
        assert (after["state"], after["videoBackendRef"], after["whipUrl"]) == ("ASSIGNED", None, None)
        assert availability(api, operator) == "ONLINE"

    def test_the_operator_stays_busy_while_another_started_session_remains(self, api: Api, parties) -> None:
        consumer, operator = parties
        first, second = started(api, consumer, operator), started(api, consumer, operator)
        api("DELETE", f"/api/v1/sessions/{first['id']}", consumer.key)
        assert availability(api, operator) == "BUSY"
        api("DELETE", f"/api/v1/sessions/{second['id']}", consumer.key)
        assert availability(api, operator) == "ONLINE"

    def test_a_repeated_start_carries_a_consistency_token_covering_the_first(self, api: Api, parties) -> None:
        consumer, operator = parties
        first = api("POST", f"/api/v1/sessions/{assigned(api, consumer, operator)}/start", operator.key)
        again = api("POST", f"/api/v1/sessions/{first.data['id']}/start", operator.key)
        # (the tokens are sealed: the server opens them to the transactions they name)
        key = wiring.consistency_key()
        opened = [open_token(reply.headers["x-lx-consistency-token"], key) for reply in (first, again)]
        tokens = [token for token in opened if token is not None]
        assert len(tokens) == 2 and tokens[1] >= tokens[0]


def set_availability(api: Api, who: Workspace, chosen: str) -> str:
    reply = api("PATCH", "/api/v1/workspaces/me", who.key, {"availability": chosen})
    assert reply.status == 200, reply.body
    return str(reply.data["availability"])


class TestTheOperatorsChoiceOutlastsBusy:
    """/start makes the operator BUSY; when its last started session stops it gets back what it chose, not ONLINE."""

    def test_an_operator_that_went_offline_before_start_is_offline_when_its_session_stops(
        self, api: Api, parties
    ) -> None:
        # Given an operator that accepted a session, then went OFFLINE (it will take nothing more)
        consumer, operator = parties
        session_id = assigned(api, consumer, operator)
        assert set_availability(api, operator, "OFFLINE") == "OFFLINE"
        # When it starts that session it is BUSY
        assert api("POST", f"/api/v1/sessions/{session_id}/start", operator.key).status == 200
        assert availability(api, operator) == "BUSY"
        # Then once the session stops (the consumer cancels it) the operator is OFFLINE, as it chose
        assert api("DELETE", f"/api/v1/sessions/{session_id}", consumer.key).status == 200
        assert availability(api, operator) == "OFFLINE"

    def test_an_operator_that_chooses_offline_while_busy_is_offline_when_its_session_ends(
        self, api: Api, parties
    ) -> None:
        # Given an operator BUSY with a LIVE session
        consumer, operator = parties
        s = started(api, consumer, operator)
        wiring.sessions().go_live(s["id"], datetime.now(UTC))
        # When it chooses OFFLINE, it stays BUSY while the session runs
        assert set_availability(api, operator, "OFFLINE") == "BUSY"
        # Then when the session ends it is OFFLINE (it was ONLINE before the fix: the release ignored the choice)
        assert api("POST", f"/api/v1/sessions/{s['id']}/end", operator.key).status == 200
        assert availability(api, operator) == "OFFLINE"

    def test_a_busy_operator_that_chose_offline_accepts_no_new_session(self, api: Api, parties) -> None:
        consumer, operator = parties
        started(api, consumer, operator)
        set_availability(api, operator, "OFFLINE")
        session_id = api("POST", "/api/v1/sessions", consumer.key, {"lat": 1, "lng": 2}).data["id"]
        reply = api("POST", f"/api/v1/sessions/{session_id}/accept", operator.key)
        assert (reply.status, reply.error) == (403, ("NOT_AUTHORIZED", "operator:offline"))

    def test_an_operator_that_chooses_online_again_while_busy_is_online_when_its_work_stops(
        self, api: Api, parties
    ) -> None:
        consumer, operator = parties
        s = started(api, consumer, operator)
        set_availability(api, operator, "OFFLINE")
        assert set_availability(api, operator, "ONLINE") == "BUSY"
        assert api("POST", "/api/v1/sessions/cancel-all-assignments", operator.key).data["count"] == 1
        assert availability(api, operator) == "ONLINE"
        assert api("GET", f"/api/v1/sessions/{s['id']}", operator.key).data["state"] == "CANCELLED"


class TestTeardown:
    def test_cancel_tears_the_live_input_down_and_releases_the_operator(
        self, api: Api, parties, video_env: RunningEdge
    ) -> None:
        consumer, operator = parties
        s = started(api, consumer, operator)
        cancelled = api("DELETE", f"/api/v1/sessions/{s['id']}", consumer.key).data
        assert (cancelled["state"], cancelled["videoBackendRef"], cancelled["whepUrl"]) == ("CANCELLED", None, None)
        assert video_env.client().get_live_input(s["videoBackendRef"]) is None
        assert availability(api, operator) == "ONLINE"

    def test_bulk_cancel_tears_every_live_input_down(self, api: Api, parties, video_env: RunningEdge) -> None:
        consumer, operator = parties
        refs = [started(api, consumer, operator)["videoBackendRef"] for _ in range(2)]
        assert api("POST", "/api/v1/sessions/cancel-all-assignments", operator.key).data["count"] == 2
        assert [video_env.client().get_live_input(ref) for ref in refs] == [None, None]
        assert availability(api, operator) == "ONLINE"

    def test_end_tears_the_live_input_down(self, api: Api, parties, video_env: RunningEdge) -> None:
        consumer, operator = parties
        s = started(api, consumer, operator)
        wiring.sessions().go_live(s["id"], datetime.now(UTC) - timedelta(seconds=3))
        ended = api("POST", f"/api/v1/sessions/{s['id']}/end", operator.key).data
        assert (ended["state"], ended["videoBackendRef"]) == ("ENDED", None)
        assert video_env.client().get_live_input(s["videoBackendRef"]) is None
        assert availability(api, operator) == "ONLINE"

    def test_a_failed_teardown_is_retried_from_the_outbox(
        self, api: Api, parties, video_env: RunningEdge, database_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        consumer, operator = parties
        s = started(api, consumer, operator)
        # Given the video backend is down when the consumer cancels
        with video_backend_at("http://127.0.0.1:9/client/v4", monkeypatch):
            assert api("DELETE", f"/api/v1/sessions/{s['id']}", consumer.key).data["state"] == "CANCELLED"
        assert video_env.client().get_live_input(s["videoBackendRef"]) is not None
        with psycopg.connect(database_url, autocommit=True) as conn:
            pending = conn.execute(
                "SELECT attempts, last_error IS NOT NULL FROM outbox WHERE payload->>'sessionId' = %s"
                " AND delivered_at IS NULL",
                (s["id"],),
            ).fetchone()
            assert pending == (1, True)
            # When the backend is back and the retry is due, the sweep drains the outbox
            conn.execute("UPDATE outbox SET available_at = now() WHERE payload->>'sessionId' = %s", (s["id"],))
        wiring.outbox().drain()
        # Then the live input is gone and the entry is delivered
        assert video_env.client().get_live_input(s["videoBackendRef"]) is None
        with psycopg.connect(database_url) as conn:
            done = conn.execute(
                "SELECT delivered_at IS NOT NULL FROM outbox WHERE payload->>'sessionId' = %s", (s["id"],)
            ).fetchone()
        assert done == (True,)

    def test_a_hanging_video_backend_gets_one_short_try_from_the_request_and_the_rest_from_the_sweep(
        self, api: Api, parties, video_env: RunningEdge, database_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given a video backend that accepts connections and never answers, when the consumer cancels
        consumer, operator = parties
        s = started(api, consumer, operator)
        with hanging_server() as (url, requests), video_backend_at(url, monkeypatch):
            reply = api("DELETE", f"/api/v1/sessions/{s['id']}", consumer.key)
            # Then the cancel commits and answers after one try (the full client would retry twice), leaving the
            # teardown pending in the outbox for the sweep
            assert reply.data["state"] == "CANCELLED"
            assert requests() == 1
        with psycopg.connect(database_url) as conn:
            pending = conn.execute(
                "SELECT count(*) FROM outbox WHERE payload->>'sessionId' = %s AND delivered_at IS NULL", (s["id"],)
            ).fetchone()
        assert pending == (1,)


class TestFrame:
    def test_no_frame_before_the_decoder_buffers_one(self, api: Api, parties) -> None:
        consumer, operator = parties
        s = started(api, consumer, operator)
        reply = api("GET", f"/api/v1/sessions/{s['id']}/frame", consumer.key)
        assert (reply.status, reply.error) == (404, ("FRAME_NOT_AVAILABLE", "frame:ASSIGNED"))

    def test_the_latest_frame_is_a_jpeg_that_is_never_cached(self, api: Api, parties, workspace) -> None:
        consumer, operator = parties
        s = started(api, consumer, operator)
        RedisFrameStore(os.environ["LX_REDIS_URL"]).put(s["id"], Frame(JPEG, datetime.now(UTC)), token=1)
        # Before LIVE the operator may preview it; the consumer may not (it is not billed yet)
        assert api("GET", f"/api/v1/sessions/{s['id']}/frame", operator.key).status == 200
        early = api("GET", f"/api/v1/sessions/{s['id']}/frame", consumer.key)
        assert (early.status, early.error) == (404, ("FRAME_NOT_AVAILABLE", "frame:ASSIGNED"))
        wiring.sessions().go_live(s["id"], datetime.now(UTC))
        for who in (consumer, operator):
            reply = api("GET", f"/api/v1/sessions/{s['id']}/frame", who.key)
            assert reply.status == 200
            assert reply.headers["content-type"] == "image/jpeg"
            assert reply.headers["cache-control"] == "no-store"
            assert reply.raw_bytes == JPEG
        stranger = workspace("CONSUMER")
        reply = api("GET", f"/api/v1/sessions/{s['id']}/frame", stranger.key)
        assert (reply.status, reply.error) == (404, ("SESSION_NOT_FOUND", "session:notFound"))


class TestTransitionsRacingStart:
    def test_a_cancel_that_waits_on_a_provisioning_start_still_tears_the_live_input_down(
        self, api: Api, parties, database_url: str, own_connections
    ) -> None:
        # Given /start is provisioning (holding the row lock) when the consumer cancels, each on its own connection
        import threading

        import luxxon.db.sessions as db_sessions

        consumer, operator = parties
        session_id = assigned(api, consumer, operator)
        own_connections("luxxon.db.sessions")
        edge, provisioning = wiring.video(), threading.Event()

        class SlowEdge:  # the local edge, with a POST that takes half a second
            def create_live_input(self, sid: str) -> LiveInput:
                provisioning.set()
                time.sleep(0.5)
                return edge.create_live_input(sid)

        service = SessionService(db_sessions.PgSessionStore(), get_settings(), video=SlowEdge)
        as_operator = Principal(operator.id, "key", frozenset(), frozenset({"SUPPLIER"}))
        as_consumer = Principal(consumer.id, "key", frozenset(), frozenset({"CONSUMER"}))
        start: dict[str, Any] = {}
        starting = threading.Thread(target=lambda: start.update(s=service.start(as_operator, session_id).value))
        starting.start()
        assert provisioning.wait(5)
        # When the cancel runs (it waits for the start to commit)
        cancelled = service.cancel(as_consumer, session_id).value
        starting.join(10)
        # Then it cancels, writes the teardown of the live input the start created, and releases the operator
        assert cancelled.state == "CANCELLED"
        with psycopg.connect(database_url) as conn:
            teardown = conn.execute(
                "SELECT payload->>'uid' FROM outbox WHERE payload->>'sessionId' = %s", (session_id,)
            ).fetchall()
            busy = conn.execute("SELECT availability FROM workspaces WHERE id = %s", (operator.id,)).fetchone()
        assert teardown == [(start["s"].videoBackendRef,)]
        assert busy == ("ONLINE",)


def test_the_frame_store_unreachable_is_503_not_500(api: Api, parties, monkeypatch: pytest.MonkeyPatch) -> None:
    consumer, operator = parties
    s = started(api, consumer, operator)
    with monkeypatch.context() as patch:
        patch.setenv("LX_REDIS_URL", "redis://127.0.0.1:9/0")  # nothing listens there
        get_settings.cache_clear()
        wiring.reset()
        reply = api("GET", f"/api/v1/sessions/{s['id']}/frame", operator.key)  # the operator may preview
    get_settings.cache_clear()
    wiring.reset()
    assert (reply.status, reply.error) == (503, ("SERVICE_UNAVAILABLE", "frames:unavailable"))
