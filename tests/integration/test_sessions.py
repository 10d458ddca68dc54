"""The session lifecycle through the API handlers, against the real database."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from luxxon import wiring
from luxxon.api.consistency import PATTERN
from luxxon.models.sessions import DisconnectReason
from tests.conftest import Api, WorkspaceFactory, unique_place

BOGOTA = {"lat": 4.71, "lng": -74.07}
BOGOTA_AREA = (4.71, -74.07, 5_000.0)


@pytest.fixture
def consumer(workspace: WorkspaceFactory):
    return workspace("CONSUMER")


@pytest.fixture
def supplier(workspace: WorkspaceFactory):
    return workspace("SUPPLIER", coverage=BOGOTA_AREA)


def create(api: Api, key: str, **body: object) -> dict:
    reply = api("POST", "/api/v1/sessions", key, {**BOGOTA, **body})
    assert reply.status == 201, reply.body
    return reply.data


def make_live(api: Api, consumer_key: str, supplier_key: str, started_ago_s: float = 0.0) -> dict:
    session = create(api, consumer_key, maxDurationSeconds=600)
    assert api("POST", f"/api/v1/sessions/{session['id']}/accept", supplier_key).status == 200
    started = datetime.now(UTC) - timedelta(seconds=started_ago_s)
    wiring.sessions().go_live(session["id"], started)
    return session


SECOND = timedelta(seconds=1)


def metered_span(database_url: str, session_id: str) -> tuple[datetime, datetime]:
    """The session's startedAt and endedAt as the meter used them: the database's, to the microsecond (the API shows
    milliseconds, whose floor can differ from the meter's by a second)."""
    import psycopg

    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT started_at, ended_at FROM sessions WHERE id = %s", (session_id,)).fetchone()
    assert row is not None
    return row[0], row[1]


def whole_seconds_down(span: timedelta) -> int:
    """A disconnected span in whole seconds, rounded up (a partial second is never charged)."""
    return -(-span // SECOND)


class TestCreate:
    @pytest.mark.parametrize(
        ("value", "expected"), [(600.0, 201), (1.44e4, 201), (600.5, 400), (True, 400), ("600", 400)]
    )
    def test_durations_are_json_integers_including_a_whole_number_with_a_decimal_point(
        self, api: Api, consumer, value: object, expected: int
    ) -> None:
        # JSON Schema's integer includes 600.0 (the fuzzer sends it); a fraction, a boolean or a string is not one
        reply = api("POST", "/api/v1/sessions", consumer.key, {**BOGOTA, "maxDurationSeconds": value})
        assert reply.status == expected, reply.body
        if expected == 201:
            assert reply.data["maxDurationSeconds"] == int(value)  # type: ignore[call-overload]

    def test_a_new_session_is_requested_with_the_stamped_rate_and_hold(self, api: Api, consumer) -> None:
        reply = api("POST", "/api/v1/sessions", consumer.key, {**BOGOTA, "maxDurationSeconds": 300})
        assert reply.status == 201
        s = reply.data
        assert s["state"] == "REQUESTED"
        assert s["consumerWorkspaceId"] == consumer.id
        assert s["operatorWorkspaceId"] is None
        assert s["ratePerSecondMicroUsdc"] == "1000"
        assert s["holdMicroUsdc"] == str(1000 * 300)
        assert (s["requestedLat"], s["requestedLng"]) == (4.71, -74.07)
        assert s["waitTimeoutSeconds"] == 300
        assert s["createdAt"].endswith("Z") and len(s["createdAt"]) == 24
        assert re.fullmatch(PATTERN, reply.headers["x-lx-consistency-token"])  # sealed: no transaction counter

    @pytest.mark.parametrize(("asked", "stamped"), [(1, 5), (5, 5), (90, 90), (3600, 3600), (99_999, 3600)])
    def test_wait_timeout_is_clamped_to_5_3600(self, api: Api, consumer, asked: int, stamped: int) -> None:
        assert create(api, consumer.key, waitTimeoutSeconds=asked)["waitTimeoutSeconds"] == stamped

    def test_max_duration_defaults_to_600(self, api: Api, consumer) -> None:
        assert create(api, consumer.key)["maxDurationSeconds"] == 600

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"lat": 91, "lng": 0}, "lat"),
            ({"lat": 0, "lng": -180.5}, "lng"),
            ({"lng": 0}, "lat"),
            ({"lat": "north", "lng": 0}, "lat"),
            ({"lat": 0, "lng": 0, "maxDurationSeconds": 9}, "maxDurationSeconds"),
            ({"lat": 0, "lng": 0, "maxDurationSeconds": 14_401}, "maxDurationSeconds"),
            ({"lat": 0, "lng": 0, "waitTimeoutSeconds": "soon"}, "waitTimeoutSeconds"),
            ({"lat": 0, "lng": 0, "colour": "red"}, "colour"),
            ({"lat": True, "lng": 0}, "lat"),
            ({"lat": "4.7", "lng": 0}, "lat"),
            ({"lat": 0, "lng": 0, "maxDurationSeconds": 30.5}, "maxDurationSeconds"),
        ],
    )
    def test_bad_input_is_400_naming_the_field_and_creates_nothing(
        self, api: Api, consumer, body: dict, field: str
    ) -> None:
        reply = api("POST", "/api/v1/sessions", consumer.key, body)
        assert reply.status == 400
        assert reply.error == ("INVALID_INPUT", f"input:{field}")
        assert set(reply.body) == {"statusCode", "code", "message", "detail", "timestamp"}
        assert api("GET", "/api/v1/sessions", consumer.key).data["items"] == []

    def test_a_body_that_is_not_json_is_400(self, api: Api, consumer) -> None:
        reply = api("POST", "/api/v1/sessions", consumer.key, raw_body="{not json")
        assert reply.status == 400
        assert reply.error[0] == "INVALID_INPUT"


class TestRead:
    def test_both_sides_see_the_session_and_a_stranger_gets_not_found(
        self, api: Api, consumer, supplier, workspace: WorkspaceFactory
    ) -> None:
        s = create(api, consumer.key)
        api("POST", f"/api/v1/sessions/{s['id']}/accept", supplier.key)
        stranger = workspace("CONSUMER", "SUPPLIER")
        assert api("GET", f"/api/v1/sessions/{s['id']}", consumer.key).data["state"] == "ASSIGNED"
        assert api("GET", f"/api/v1/sessions/{s['id']}", supplier.key).data["operatorWorkspaceId"] == supplier.id
        reply = api("GET", f"/api/v1/sessions/{s['id']}", stranger.key)
        assert (reply.status, reply.error[0]) == (404, "SESSION_NOT_FOUND")

    def test_an_id_that_is_not_a_uuid_is_not_found(self, api: Api, consumer) -> None:
        reply = api("GET", "/api/v1/sessions/not-a-uuid", consumer.key)
        assert (reply.status, reply.error[0]) == (404, "SESSION_NOT_FOUND")

    def test_list_is_newest_first_paginated_and_filtered_by_state(self, api: Api, workspace: WorkspaceFactory) -> None:
        me = workspace("CONSUMER")
        ids = [create(api, me.key)["id"] for _ in range(5)]
        api("DELETE", f"/api/v1/sessions/{ids[1]}", me.key)
        first = api("GET", "/api/v1/sessions?limit=2", me.key).data
        assert [s["id"] for s in first["items"]] == [ids[4], ids[3]]
        second = api("GET", f"/api/v1/sessions?limit=2&cursor={first['nextCursor']}", me.key).data
        assert [s["id"] for s in second["items"]] == [ids[2], ids[1]]
        third = api("GET", f"/api/v1/sessions?limit=2&cursor={second['nextCursor']}", me.key).data
        assert [s["id"] for s in third["items"]] == [ids[0]]
        assert third["nextCursor"] is None
        cancelled = api("GET", "/api/v1/sessions?state=CANCELLED", me.key).data["items"]
        assert [s["id"] for s in cancelled] == [ids[1]]

    def test_list_includes_sessions_the_workspace_operates(self, api: Api, consumer, supplier) -> None:
        s = create(api, consumer.key)
        api("POST", f"/api/v1/sessions/{s['id']}/accept", supplier.key)
        assert [x["id"] for x in api("GET", "/api/v1/sessions", supplier.key).data["items"]] == [s["id"]]

    def test_any_cursor_of_the_documented_pattern_is_a_place_to_continue_from(
        self, api: Api, workspace: WorkspaceFactory
    ) -> None:
        # Given sessions, and cursors this API never issued but that match the pattern the document gives for `cursor`
        me = workspace("CONSUMER")
        ids = [create(api, me.key)["id"] for _ in range(2)]
        far_future = "f" + "_" * 10 + "8" + "A" * 20  # the largest time a cursor holds
        epoch = "A" * 32  # 1970-01-01, the nil id
        # When each is passed, Then it is never refused for its shape: it is the position it names
        after_all = api("GET", f"/api/v1/sessions?cursor={far_future}", me.key)
        assert (after_all.status, [s["id"] for s in after_all.data["items"]]) == (200, ids[::-1])
        before_all = api("GET", f"/api/v1/sessions?cursor={epoch}", me.key)
        assert (before_all.status, before_all.data) == (200, {"items": [], "nextCursor": None})

    @pytest.mark.parametrize(
        ("query", "field"),
        [
            ("state=DONE", "state"),
            ("limit=0", "limit"),
            ("cursor=%%%", "cursor"),
            ("cursor=" + "A" * 31, "cursor"),  # not the documented pattern: the wrong length
            ("cursor=MjAyNi0xMi0wM1QxMjowMDowMHw", "cursor"),  # nor a cursor of the format before 2026-12-07
        ],
    )
    def test_bad_list_parameters_are_400(self, api: Api, consumer, query: str, field: str) -> None:
        reply = api("GET", f"/api/v1/sessions?{query}", consumer.key)
        assert reply.status == 400
        assert reply.error == ("INVALID_INPUT", f"input:{field}")


class TestCancel:
    def test_cancel_in_requested(self, api: Api, consumer) -> None:
        s = create(api, consumer.key)
        reply = api("DELETE", f"/api/v1/sessions/{s['id']}", consumer.key)
        assert (reply.status, reply.data["state"]) == (200, "CANCELLED")
        assert api("GET", f"/api/v1/sessions/{s['id']}", consumer.key).data["state"] == "CANCELLED"

    def test_cancel_in_assigned(self, api: Api, consumer, supplier) -> None:
        s = create(api, consumer.key)
        api("POST", f"/api/v1/sessions/{s['id']}/accept", supplier.key)
        assert api("DELETE", f"/api/v1/sessions/{s['id']}", consumer.key).data["state"] == "CANCELLED"

    def test_cancel_of_a_live_session_is_invalid_state(self, api: Api, consumer, supplier) -> None:
        s = make_live(api, consumer.key, supplier.key)
        reply = api("DELETE", f"/api/v1/sessions/{s['id']}", consumer.key)
        assert (reply.status, reply.error) == (409, ("INVALID_STATE", "session:cancel:LIVE"))

    def test_a_cancelled_session_ran_no_meter(self, api: Api, consumer, supplier) -> None:
        s = create(api, consumer.key)
        api("POST", f"/api/v1/sessions/{s['id']}/accept", supplier.key)
        cancelled = api("DELETE", f"/api/v1/sessions/{s['id']}", consumer.key).data
        assert (cancelled["state"], cancelled["startedAt"], cancelled["endedAt"]) == ("CANCELLED", None, None)
        assert (cancelled["cleanSeconds"], cancelled["chargedMicroUsdc"]) == (0, "0")

    def test_cancel_twice_reports_the_current_state(self, api: Api, consumer) -> None:
        s = create(api, consumer.key)
        api("DELETE", f"/api/v1/sessions/{s['id']}", consumer.key)
        reply = api("DELETE", f"/api/v1/sessions/{s['id']}", consumer.key)
        assert reply.error == ("INVALID_STATE", "session:cancel:CANCELLED")

    def test_the_operator_cannot_cancel_on_the_consumers_behalf(self, api: Api, consumer, workspace) -> None:
        both = workspace(
            "SUPPLIER", scopes=["sessions:create", "sessions:operate", "sessions:read"], coverage=BOGOTA_AREA
        )
        s = create(api, consumer.key)
        api("POST", f"/api/v1/sessions/{s['id']}/accept", both.key)
        reply = api("DELETE", f"/api/v1/sessions/{s['id']}", both.key)
        assert (reply.status, reply.error) == (403, ("NOT_AUTHORIZED", "session:notConsumer"))
        assert api("GET", f"/api/v1/sessions/{s['id']}", consumer.key).data["state"] == "ASSIGNED"

    def test_cancel_releases_a_busy_operator(self, api: Api, consumer, supplier, database_url: str) -> None:
        import psycopg

        s = create(api, consumer.key)
        api("POST", f"/api/v1/sessions/{s['id']}/accept", supplier.key)
        with psycopg.connect(database_url, autocommit=True) as conn:  # /start (video issue) marks it BUSY
            conn.execute("UPDATE sessions SET video_backend_ref = 'li-1' WHERE id = %s", (s["id"],))
            conn.execute("UPDATE workspaces SET availability = 'BUSY' WHERE id = %s", (supplier.id,))
        api("DELETE", f"/api/v1/sessions/{s['id']}", consumer.key)
        assert api("GET", "/api/v1/workspaces/me", supplier.key).data["availability"] == "ONLINE"


class TestAccept:
    def test_accept_stamps_the_operator(self, api: Api, consumer, supplier) -> None:
        s = create(api, consumer.key)
        reply = api("POST", f"/api/v1/sessions/{s['id']}/accept", supplier.key)
        assert reply.status == 200
        assert (reply.data["state"], reply.data["operatorWorkspaceId"]) == ("ASSIGNED", supplier.id)

    def test_a_workspace_without_the_supplier_role_cannot_accept(self, api: Api, consumer, workspace) -> None:
        not_supplier = workspace("CONSUMER", scopes=["sessions:operate"])
        s = create(api, consumer.key)
        reply = api("POST", f"/api/v1/sessions/{s['id']}/accept", not_supplier.key)
        assert (reply.status, reply.error) == (403, ("NOT_AUTHORIZED", "session:notSupplier"))

    def test_a_workspace_cannot_accept_its_own_request(self, api: Api, workspace) -> None:
        both = workspace("CONSUMER", "SUPPLIER")
        s = create(api, both.key)
        reply = api("POST", f"/api/v1/sessions/{s['id']}/accept", both.key)
        assert (reply.status, reply.error) == (403, ("NOT_AUTHORIZED", "session:ownRequest"))

    def test_accept_of_an_unknown_session_is_not_found(self, api: Api, supplier) -> None:
        reply = api("POST", "/api/v1/sessions/00000000-0000-4000-8000-000000000000/accept", supplier.key)
        assert (reply.status, reply.error[0]) == (404, "SESSION_NOT_FOUND")

    def test_the_second_accept_loses_with_the_real_state(self, api: Api, consumer, supplier, workspace) -> None:
        s = create(api, consumer.key)
        api("POST", f"/api/v1/sessions/{s['id']}/accept", supplier.key)
        reply = api("POST", f"/api/v1/sessions/{s['id']}/accept", workspace("SUPPLIER", coverage=BOGOTA_AREA).key)
        assert (reply.status, reply.error) == (409, ("INVALID_STATE", "session:accept:ASSIGNED"))


class TestAcceptRules:
    def test_an_offline_supplier_cannot_accept(self, api: Api, consumer, workspace) -> None:
        offline = workspace("SUPPLIER", coverage=BOGOTA_AREA, availability="OFFLINE")
        s = create(api, consumer.key)
        reply = api("POST", f"/api/v1/sessions/{s['id']}/accept", offline.key)
        assert (reply.status, reply.error) == (403, ("NOT_AUTHORIZED", "operator:offline"))
        assert api("GET", f"/api/v1/sessions/{s['id']}", consumer.key).data["state"] == "REQUESTED"

    def test_a_supplier_whose_area_does_not_cover_the_point_learns_nothing(
        self, api: Api, consumer, supplier, workspace
    ) -> None:
        # Given a supplier covering Santiago, and a Bogotá session requested, then accepted by a local supplier
        far = workspace("SUPPLIER", coverage=(-33.45, -70.66, 3_000))
        requested, taken = create(api, consumer.key), create(api, consumer.key)
        api("POST", f"/api/v1/sessions/{taken['id']}/accept", supplier.key)
        # Then for the far supplier both are simply not found (no state, no existence) and nothing changes
        for s in (requested, taken):
            reply = api("POST", f"/api/v1/sessions/{s['id']}/accept", far.key)
            assert (reply.status, reply.error) == (404, ("SESSION_NOT_FOUND", "session:notFound"))
        assert api("GET", f"/api/v1/sessions/{requested['id']}", consumer.key).data["state"] == "REQUESTED"

    def test_an_operator_holds_at_most_the_configured_number_of_sessions(self, api: Api, consumer, supplier) -> None:
        cap = wiring.sessions().settings.max_active_sessions_per_operator
        for _ in range(cap):
            assert api("POST", f"/api/v1/sessions/{create(api, consumer.key)['id']}/accept", supplier.key).status == 200
        extra = create(api, consumer.key)
        reply = api("POST", f"/api/v1/sessions/{extra['id']}/accept", supplier.key)
        assert (reply.status, reply.error) == (403, ("NOT_AUTHORIZED", "operator:atCapacity"))
        assert api("GET", f"/api/v1/sessions/{extra['id']}", consumer.key).data["state"] == "REQUESTED"

    def test_a_supplier_at_its_cap_learns_nothing_about_a_taken_session(
        self, api: Api, consumer, supplier, workspace
    ) -> None:
        cap = wiring.sessions().settings.max_active_sessions_per_operator
        for _ in range(cap):
            api("POST", f"/api/v1/sessions/{create(api, consumer.key)['id']}/accept", supplier.key)
        taken = create(api, consumer.key)
        api("POST", f"/api/v1/sessions/{taken['id']}/accept", workspace("SUPPLIER", coverage=BOGOTA_AREA).key)
        reply = api("POST", f"/api/v1/sessions/{taken['id']}/accept", supplier.key)
        assert (reply.status, reply.error) == (403, ("NOT_AUTHORIZED", "operator:atCapacity"))

    def test_two_accepts_racing_for_the_last_place_leave_the_operator_at_its_cap(
        self, api: Api, consumer, supplier, own_connections
    ) -> None:
        # Given an operator one session below its cap, and two sessions it accepts at the same instant, each request
        # on a connection of its own
        import threading

        from luxxon.domain.ports.workspaces import Principal
        from luxxon.errors import LxError

        cap = wiring.sessions().settings.max_active_sessions_per_operator
        for _ in range(cap - 1):
            api("POST", f"/api/v1/sessions/{create(api, consumer.key)['id']}/accept", supplier.key)
        targets = [create(api, consumer.key)["id"] for _ in range(2)]
        own_connections("luxxon.db.sessions")
        me = Principal(supplier.id, supplier.key_id, frozenset({"sessions:operate"}), frozenset({"SUPPLIER"}))
        barrier, outcomes = threading.Barrier(2), []

        def accept(session_id: str) -> None:
            barrier.wait()
            try:
                wiring.sessions().accept(me, session_id)
                outcomes.append("accepted")
            except LxError as error:
                outcomes.append(error.detail)

        threads = [threading.Thread(target=accept, args=(t,)) for t in targets]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        # Then exactly one wins and the other finds the operator at capacity
        assert sorted(outcomes) == ["accepted", "operator:atCapacity"]


class TestLiveAndEnd:
    def test_an_end_waiting_for_the_row_bills_without_the_window_committed_while_it_waited(
        self, api: Api, consumer, supplier, database_url: str
    ) -> None:
        import threading
        import time

        import psycopg

        # Given a LIVE session whose row another transaction holds while it records a 10 s disconnect window (as the
        # edge's webhook does)
        s = make_live(api, consumer.key, supplier.key, started_ago_s=30)
        started = datetime.fromisoformat(api("GET", f"/api/v1/sessions/{s['id']}", consumer.key).data["startedAt"])
        holder = psycopg.connect(database_url)
        holder.execute("SELECT 1 FROM sessions WHERE id = %s FOR UPDATE", (s["id"],))
        holder.execute(
            "INSERT INTO disconnect_windows (session_id, reason, source, opened_at, closed_at)"
            " VALUES (%s, 'NETWORK_ERROR', 'edge', %s, %s)",
            (s["id"], started + timedelta(seconds=5), started + timedelta(seconds=15)),
        )
        # When /end arrives, waits for the row, and the holder commits
        ended: dict = {}
        end = threading.Thread(
            target=lambda: ended.update(reply=api("POST", f"/api/v1/sessions/{s['id']}/end", consumer.key))
        )
        end.start()
        with psycopg.connect(database_url, autocommit=True) as watcher:
            deadline = time.monotonic() + 10
            while not watcher.execute(
                "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            ).fetchone():
                assert time.monotonic() < deadline, "the /end never waited for the row"
                time.sleep(0.02)
        holder.commit()
        holder.close()
        end.join(10)
        # Then the window counts: 10 seconds fewer than the wall time
        started_at, ended_at = metered_span(database_url, s["id"])
        assert ended["reply"].data["cleanSeconds"] == (ended_at - started_at) // SECOND - 10

    def test_go_live_stamps_started_at_and_only_from_assigned(self, api: Api, consumer, supplier) -> None:
        s = create(api, consumer.key)
        first_frame = datetime(2026, 1, 24, 12, 0, 0, 123_000, tzinfo=UTC)
        with pytest.raises(Exception, match="session:live:REQUESTED"):
            wiring.sessions().go_live(s["id"], first_frame)
        api("POST", f"/api/v1/sessions/{s['id']}/accept", supplier.key)
        wiring.sessions().go_live(s["id"], first_frame)
        live = api("GET", f"/api/v1/sessions/{s['id']}", consumer.key).data
        assert (live["state"], live["startedAt"]) == ("LIVE", "2026-01-24T12:00:00.123Z")

    @pytest.mark.parametrize("side", ["consumer", "operator"])
    def test_either_side_ends_and_the_meter_charges_clean_seconds(
        self, api: Api, consumer, supplier, side, database_url: str
    ) -> None:
        s = make_live(api, consumer.key, supplier.key, started_ago_s=30.4)
        key = consumer.key if side == "consumer" else supplier.key
        reply = api("POST", f"/api/v1/sessions/{s['id']}/end", key)
        assert reply.status == 200
        ended = reply.data
        assert ended["state"] == "ENDED"
        # The floor of the wall time, to the microsecond, however long the machine took between LIVE and /end
        started_at, ended_at = metered_span(database_url, s["id"])
        assert ended["cleanSeconds"] == (ended_at - started_at) // SECOND >= 30
        assert ended["chargedMicroUsdc"] == str(ended["cleanSeconds"] * 1000)
        assert ended["endedAt"] is not None

    def test_disconnect_windows_are_subtracted_once(self, api: Api, consumer, supplier, database_url: str) -> None:
        s = make_live(api, consumer.key, supplier.key, started_ago_s=60.2)
        service, now = wiring.sessions(), datetime.now(UTC)
        # NETWORK_ERROR 40 s→20 s ago and OUTSIDE_GEOFENCE 30 s→10 s ago overlap: 30 s down in all
        service.disconnected(s["id"], DisconnectReason.NETWORK_ERROR, now - timedelta(seconds=40))
        service.reconnected(s["id"], DisconnectReason.NETWORK_ERROR, now - timedelta(seconds=20))
        service.disconnected(s["id"], DisconnectReason.OUTSIDE_GEOFENCE, now - timedelta(seconds=30))
        service.reconnected(s["id"], DisconnectReason.OUTSIDE_GEOFENCE, now - timedelta(seconds=10))
        ended = api("POST", f"/api/v1/sessions/{s['id']}/end", consumer.key).data
        started_at, ended_at = metered_span(database_url, s["id"])
        assert ended["cleanSeconds"] == (ended_at - started_at) // SECOND - 30

    def test_an_open_window_runs_until_the_end(self, api: Api, consumer, supplier, database_url: str) -> None:
        s = make_live(api, consumer.key, supplier.key, started_ago_s=20.5)
        opened_at = datetime.now(UTC) - timedelta(seconds=10)
        wiring.sessions().disconnected(s["id"], DisconnectReason.STALE_TELEMETRY, opened_at)
        ended = api("POST", f"/api/v1/sessions/{s['id']}/end", supplier.key).data
        started_at, ended_at = metered_span(database_url, s["id"])
        assert ended["cleanSeconds"] == (ended_at - started_at) // SECOND - whole_seconds_down(ended_at - opened_at)

    def test_clean_seconds_never_exceed_the_max_duration(self, api: Api, consumer, supplier) -> None:
        s = create(api, consumer.key, maxDurationSeconds=10)
        api("POST", f"/api/v1/sessions/{s['id']}/accept", supplier.key)
        wiring.sessions().go_live(s["id"], datetime.now(UTC) - timedelta(seconds=50))
        ended = api("POST", f"/api/v1/sessions/{s['id']}/end", consumer.key).data
        assert (ended["cleanSeconds"], ended["chargedMicroUsdc"]) == (10, ended["holdMicroUsdc"])

    @pytest.mark.parametrize("state", ["REQUESTED", "ASSIGNED", "ENDED"])
    def test_end_outside_live_is_invalid_state(self, api: Api, consumer, supplier, state: str) -> None:
        s = make_live(api, consumer.key, supplier.key) if state == "ENDED" else create(api, consumer.key)
        if state == "ASSIGNED":
            api("POST", f"/api/v1/sessions/{s['id']}/accept", supplier.key)
        if state == "ENDED":
            api("POST", f"/api/v1/sessions/{s['id']}/end", consumer.key)
        reply = api("POST", f"/api/v1/sessions/{s['id']}/end", consumer.key)
        assert (reply.status, reply.error) == (409, ("INVALID_STATE", f"session:end:{state}"))

    def test_a_stranger_cannot_end(self, api: Api, consumer, supplier, workspace) -> None:
        s = make_live(api, consumer.key, supplier.key)
        reply = api("POST", f"/api/v1/sessions/{s['id']}/end", workspace("CONSUMER").key)
        assert (reply.status, reply.error[0]) == (404, "SESSION_NOT_FOUND")
        assert api("GET", f"/api/v1/sessions/{s['id']}", consumer.key).data["state"] == "LIVE"


class TestCancelAllAssignments:
    def test_cancels_every_assigned_session_oldest_first_and_leaves_live_ones(
        self, api: Api, consumer, supplier
    ) -> None:
        assigned = []
        for _ in range(3):
            s = create(api, consumer.key)
            api("POST", f"/api/v1/sessions/{s['id']}/accept", supplier.key)
            assigned.append(s["id"])
        live = make_live(api, consumer.key, supplier.key)
        requested = create(api, consumer.key)
        reply = api("POST", "/api/v1/sessions/cancel-all-assignments", supplier.key)
        assert reply.status == 200
        assert reply.data == {"count": 3, "cancelled": assigned}
        assert api("GET", f"/api/v1/sessions/{live['id']}", supplier.key).data["state"] == "LIVE"
        assert api("GET", f"/api/v1/sessions/{requested['id']}", consumer.key).data["state"] == "REQUESTED"

    def test_is_a_no_op_without_assigned_sessions(self, api: Api, supplier) -> None:
        reply = api("POST", "/api/v1/sessions/cancel-all-assignments", supplier.key)
        assert (reply.status, reply.data) == (200, {"count": 0, "cancelled": []})

    def test_touches_only_the_callers_assignments(self, api: Api, consumer, supplier, workspace) -> None:
        other = workspace("SUPPLIER", coverage=BOGOTA_AREA)
        s = create(api, consumer.key)
        api("POST", f"/api/v1/sessions/{s['id']}/accept", other.key)
        assert api("POST", "/api/v1/sessions/cancel-all-assignments", supplier.key).data["count"] == 0
        assert api("GET", f"/api/v1/sessions/{s['id']}", consumer.key).data["state"] == "ASSIGNED"

    def test_a_non_supplier_workspace_is_not_an_operator(self, api: Api, workspace) -> None:
        consumer_with_operate = workspace("CONSUMER", scopes=["sessions:operate"])
        reply = api("POST", "/api/v1/sessions/cancel-all-assignments", consumer_with_operate.key)
        assert (reply.status, reply.error) == (403, ("NOT_OPERATOR", "session:notSupplier"))


class TestCancelAllOrdering:
    def test_the_cancelled_ids_are_oldest_first_whatever_the_order_of_acceptance(
        self, api: Api, consumer, supplier
    ) -> None:
        created = [create(api, consumer.key)["id"] for _ in range(3)]
        for session_id in reversed(created):
            assert api("POST", f"/api/v1/sessions/{session_id}/accept", supplier.key).status == 200
        reply = api("POST", "/api/v1/sessions/cancel-all-assignments", supplier.key)
        assert reply.data == {"count": 3, "cancelled": created}


class TestInbox:
    def test_lists_requested_sessions_inside_the_coverage_area_oldest_first(
        self, api: Api, workspace: WorkspaceFactory
    ) -> None:
        # A place of its own (a fixed point would share its inbox with every other test and run using it), 3 km around
        here, _ = unique_place()
        lat, lng = here["lat"], here["lng"]
        me = workspace("SUPPLIER", coverage=(lat, lng, 3_000))
        consumer = workspace("CONSUMER")
        near1 = create(api, consumer.key, lat=lat - 0.001, lng=lng - 0.001)["id"]
        near2 = create(api, consumer.key, lat=lat - 0.01, lng=lng + 0.01)["id"]  # ~1.6 km
        create(api, consumer.key, lat=lat - 0.15, lng=lng)  # ~17 km away
        taken = create(api, consumer.key, **here)["id"]
        api("POST", f"/api/v1/sessions/{taken}/accept", workspace("SUPPLIER", coverage=(lat, lng, 3_000)).key)
        items = api("GET", "/api/v1/sessions/inbox", me.key).data["items"]
        assert [s["id"] for s in items] == [near1, near2]

    def test_the_inbox_shows_where_and_what_but_not_who_asked(self, api: Api, workspace: WorkspaceFactory) -> None:
        # Given a request inside a supplier's coverage area
        here, area = unique_place()
        consumer, me = workspace("CONSUMER"), workspace("SUPPLIER", coverage=area)
        created = create(api, consumer.key, **here, maxDurationSeconds=120)
        # When the supplier reads its inbox
        (offered,) = api("GET", "/api/v1/sessions/inbox", me.key).data["items"]
        # Then it sees what deciding takes: the exact point, the duration, the rate and hold, the wait
        assert offered["id"] == created["id"]
        assert (offered["requestedLat"], offered["requestedLng"]) == (here["lat"], here["lng"])
        for field in ("maxDurationSeconds", "waitTimeoutSeconds", "ratePerSecondMicroUsdc", "holdMicroUsdc"):
            assert offered[field] == created[field], field
        # But not who asked (an offer, not the parties' LxSessionDto), nor anything a REQUESTED session cannot have yet
        assert "consumerWorkspaceId" not in offered and "operatorWorkspaceId" not in offered
        # And the parties see it: the consumer always, the operator from accept on
        accepted = api("POST", f"/api/v1/sessions/{created['id']}/accept", me.key).data
        assert accepted["consumerWorkspaceId"] == consumer.id == created["consumerWorkspaceId"]
        assert api("GET", f"/api/v1/sessions/{created['id']}", me.key).data["consumerWorkspaceId"] == consumer.id

    def test_the_inbox_never_offers_the_callers_own_requests(self, api: Api, workspace: WorkspaceFactory) -> None:
        here, area = unique_place()  # the shared test database holds many requests around Bogotá; pages are 20
        both = workspace("CONSUMER", "SUPPLIER", coverage=area)
        other = workspace("CONSUMER")
        mine, theirs = create(api, both.key, **here)["id"], create(api, other.key, **here)["id"]
        items = [s["id"] for s in api("GET", "/api/v1/sessions/inbox", both.key).data["items"]]
        assert theirs in items and mine not in items

    def test_without_a_coverage_area_the_inbox_is_empty(self, api: Api, workspace: WorkspaceFactory) -> None:
        assert api("GET", "/api/v1/sessions/inbox", workspace("SUPPLIER", coverage=False).key).data["items"] == []
