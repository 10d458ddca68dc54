"""POST /webhooks/stream: Stream Live's live-input events as Cloudflare Notifications webhooks.

The wire contract (https://developers.cloudflare.com/stream/stream-live/webhooks/ and
https://developers.cloudflare.com/notifications/reference/webhook-payload-schema/): the destination's secret in the
`cf-webhook-auth` header; the body `{name, text, data: {notification_name, input_id, event_type, updated_at}, ts}`.
The events of an input are kept once each and its NETWORK_ERROR windows (source: edge) derived from all of them in
`updated_at` order, so every delivery order and every redelivery gives the same windows.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.rows import dict_row

from luxxon import wiring
from luxxon.adapters.video import CloudflareWebhooks
from luxxon.db.sessions import PgSessionStore
from luxxon.db.webhooks import PgEdgeEventStore
from luxxon.domain.webhooks import WebhookService
from luxxon.domain.windows import WindowService
from tests.conftest import WEBHOOK_SECRET, Api, Workspace, WorkspaceFactory, started

pytestmark = pytest.mark.usefixtures("video_env")

CONNECTED, DISCONNECTED, ERRORED = "live_input.connected", "live_input.disconnected", "live_input.errored"
T0 = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)


def stamp(at: datetime) -> str:
    """RFC 3339 with nanoseconds, as Cloudflare writes `updated_at`."""
    return f"{at.astimezone(UTC):%Y-%m-%dT%H:%M:%S}.{at.microsecond:06d}000Z"


def notification(input_id: str, event: str, at: datetime, **data: object) -> bytes:
    """The body Cloudflare sends, exactly as its documentation shows it."""
    updated_at = stamp(at)
    return json.dumps(
        {
            "name": "Luxxon live inputs",
            "text": f"Notification type: Stream Live Input\nInput ID: {input_id}\nEvent type: {event}\n"
            f"Updated at: {updated_at}",
            "data": {
                "notification_name": "Stream Live Input",
                "input_id": input_id,
                "event_type": event,
                "updated_at": updated_at,
                **data,
            },
            "ts": int(at.timestamp()) + 1,
        }
    ).encode()


def send(api: Api, body: bytes, secret: str | None = WEBHOOK_SECRET, header: str = "cf-webhook-auth"):
    headers = {} if secret is None else {header: secret}
    return api("POST", "/api/v1/webhooks/stream", raw_body=body.decode(), headers=headers)


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


def edge_windows_of(db: psycopg.Connection, session_id: str) -> list[tuple[datetime, datetime | None]]:
    rows = db.execute(
        "SELECT opened_at, closed_at FROM disconnect_windows WHERE session_id = %s AND source = 'edge'"
        " AND reason = 'NETWORK_ERROR' ORDER BY opened_at",
        (session_id,),
    )
    return [(o, c) for o, c in rows.fetchall()]


def all_windows(db: psycopg.Connection, session_id: str) -> list[tuple]:
    rows = db.execute(
        "SELECT reason, source, opened_at, closed_at FROM disconnect_windows WHERE session_id = %s ORDER BY id",
        (session_id,),
    )
    return rows.fetchall()


def live(api: Api, consumer: Workspace, operator: Workspace, started_at: datetime) -> tuple[str, str, datetime]:
    """A started session (its live input on the local edge) turned LIVE at `started_at`: (id, input id, startedAt)."""
    s = started(api, consumer, operator)
    session = wiring.sessions().go_live(s["id"], started_at)
    assert session.started_at is not None
    return s["id"], s["videoBackendRef"], session.started_at


def end(api: Api, consumer: Workspace, db: psycopg.Connection, session_id: str) -> tuple[int, datetime]:
    """End the session; its cleanSeconds and exact endedAt (the database's, to the microsecond)."""
    reply = api("POST", f"/api/v1/sessions/{session_id}/end", consumer.key)
    assert reply.status == 200, reply.body
    (ended_at,) = db.execute("SELECT ended_at FROM sessions WHERE id = %s", (session_id,)).fetchone()
    return reply.data["cleanSeconds"], ended_at


def clean_seconds(started_at: datetime, ended_at: datetime, windows: list[tuple[datetime, datetime]]) -> int:
    """The meter's formula for disjoint windows inside [started_at, ended_at], written out independently, in whole
    microseconds (the database's timestamps) so no float rounding moves a floor or a ceiling."""
    wall = (ended_at - started_at) // timedelta(seconds=1)
    gap_us = sum((min(c, ended_at) - max(o, started_at)) // timedelta(microseconds=1) for o, c in windows)
    return wall - -(-gap_us // 1_000_000)


# -- the wire contract ------------------------------------------------------------------------------------------


def test_a_disconnect_then_reconnect_opens_and_closes_a_window_the_meter_subtracts(api: Api, parties, db) -> None:
    consumer, operator = parties
    now = datetime.now(UTC)
    session_id, input_id, started_at = live(api, consumer, operator, now - timedelta(seconds=40.2))
    down_at, up_at = now - timedelta(seconds=30), now - timedelta(seconds=10)

    down = send(api, notification(input_id, DISCONNECTED, down_at))
    up = send(api, notification(input_id, CONNECTED, up_at))

    assert (down.status, down.data) == (200, {"event": DISCONNECTED, "effect": "windowOpened"})
    assert (up.status, up.data) == (200, {"event": CONNECTED, "effect": "windowClosed"})
    assert edge_windows_of(db, session_id) == [(down_at, up_at)]
    clean, ended_at = end(api, consumer, db, session_id)
    assert clean == clean_seconds(started_at, ended_at, [(down_at, up_at)])


@pytest.mark.parametrize(
    ("header", "secret"),
    [
        ("cf-webhook-auth", "not-the-secret"),
        ("cf-webhook-auth", WEBHOOK_SECRET + "x"),
        ("cf-webhook-auth", ""),
        ("cf-webhook-auth", "sécret-ünicode"),
        ("CF-Webhook-Auth", "wrong"),
        ("Webhook-Signature", WEBHOOK_SECRET),  # Stream's on-demand video webhook header is not this scheme's
        (None, None),
    ],
    ids=["wrong", "longer", "empty", "non-ascii", "wrong-any-case", "other-header", "missing"],
)
def test_a_wrong_or_missing_secret_is_401_and_changes_nothing(
    api: Api, parties, db, header: str | None, secret: str | None
) -> None:
    consumer, operator = parties
    session_id, input_id, _ = live(api, consumer, operator, datetime.now(UTC) - timedelta(seconds=5))

    reply = send(api, notification(input_id, DISCONNECTED, datetime.now(UTC)), secret, header or "cf-webhook-auth")

    assert (reply.status, reply.error) == (401, ("NOT_AUTHENTICATED", "webhook:badSecret"))
    assert all_windows(db, session_id) == []
    assert db.execute("SELECT count(*) FROM edge_events WHERE input_id = %s", (input_id,)).fetchone() == (0,)


def test_the_secret_header_is_matched_in_any_case(api: Api, parties) -> None:
    consumer, operator = parties
    _, input_id, _ = live(api, consumer, operator, datetime.now(UTC) - timedelta(seconds=5))

    reply = send(api, notification(input_id, DISCONNECTED, datetime.now(UTC)), header="CF-Webhook-Auth")

    assert (reply.status, reply.data["effect"]) == (200, "windowOpened")


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"name": "x"}',
        b'{"data": "live_input.connected"}',
        b'{"data": {"event_type": 7, "input_id": "i", "updated_at": "2026-12-03T12:00:00Z"}}',
        b'{"data": {"event_type": "live_input.disconnected", "updated_at": "2026-12-03T12:00:00Z"}}',
        b'{"data": {"event_type": "live_input.disconnected", "input_id": "", "updated_at": "2026-12-03T12:00:00Z"}}',
        b'{"data": {"event_type": "live_input.disconnected", "input_id": "INPUT"}}',
        b'{"data": {"event_type": "live_input.disconnected", "input_id": "INPUT", "updated_at": "yesterday"}}',
        b'{"data": {"event_type": "live_input.disconnected", "input_id": "INPUT",'
        b' "updated_at": "2026-12-03T12:00:00"}}',
        b'{"data": {"event_type": "live_input.connected", "input_id": "INPUT", "updated_at": "2026-12-03T12:00:00Z"},'
        b' "ts": "soon"}',
        b'{"data": ' * 50_000 + b"{}" + b"}" * 50_000,
    ],
    ids=[
        "not-json",
        "not-an-object",
        "no-data",
        "data-not-an-object",
        "event-type-not-a-string",
        "no-input-id",
        "empty-input-id",
        "no-updated-at",
        "updated-at-not-a-time",
        "updated-at-without-zone",
        "ts-not-a-number",
        "deeply-nested",
    ],
)
def test_a_malformed_notification_is_400_and_changes_nothing(api: Api, parties, db, body: bytes) -> None:
    consumer, operator = parties
    session_id, input_id, _ = live(api, consumer, operator, datetime.now(UTC) - timedelta(seconds=5))

    reply = send(api, body.replace(b"INPUT", input_id.encode()))

    assert (reply.status, reply.error) == (400, ("INVALID_INPUT", "input:data"))
    assert all_windows(db, session_id) == []


def test_a_notification_about_no_live_input_is_acknowledged_and_changes_nothing(api: Api) -> None:
    # e.g. the test message a Notifications destination receives when it is saved
    body = json.dumps({"name": "Test", "text": "Hello from Cloudflare", "data": {}, "ts": 1}).encode()

    reply = send(api, body)

    assert (reply.status, reply.data) == (200, {"event": "", "effect": "none"})


def test_an_event_for_an_unknown_live_input_changes_nothing(api: Api) -> None:
    reply = send(api, notification(uuid.uuid4().hex, DISCONNECTED, datetime.now(UTC)))
    assert (reply.status, reply.data["effect"]) == (200, "none")


# -- redelivery and order -----------------------------------------------------------------------------------------


def test_a_redelivered_disconnect_of_a_live_session_leaves_its_windows_unchanged(api: Api, parties, db) -> None:
    # Given a LIVE session whose input disconnected: one open window
    consumer, operator = parties
    now = datetime.now(UTC)
    session_id, input_id, _ = live(api, consumer, operator, now - timedelta(seconds=20))
    body = notification(input_id, DISCONNECTED, now - timedelta(seconds=10))
    assert send(api, body).data["effect"] == "windowOpened"
    before = all_windows(db, session_id)
    # When Cloudflare delivers the same notification again
    again = send(api, body)
    # Then it is acknowledged (so it is not retried) and the windows are exactly as they were
    assert (again.status, again.data) == (200, {"event": DISCONNECTED, "effect": "none"})
    assert all_windows(db, session_id) == before and len(before) == 1


def test_a_redelivered_disconnect_after_the_reconnect_does_not_reopen_the_window(api: Api, parties, db) -> None:
    consumer, operator = parties
    now = datetime.now(UTC)
    session_id, input_id, _ = live(api, consumer, operator, now - timedelta(seconds=30))
    down = notification(input_id, DISCONNECTED, now - timedelta(seconds=20))
    send(api, down)
    send(api, notification(input_id, CONNECTED, now - timedelta(seconds=10)))

    again = send(api, down)

    assert again.data["effect"] == "none"
    assert edge_windows_of(db, session_id) == [(now - timedelta(seconds=20), now - timedelta(seconds=10))]


def test_a_late_disconnect_opens_at_its_own_time_and_closes_at_the_next_connect(api: Api, parties, db) -> None:
    # Given a LIVE session whose input reconnected at t+20 (its disconnect at t+10 not delivered yet)
    consumer, operator = parties
    now = datetime.now(UTC)
    session_id, input_id, started_at = live(api, consumer, operator, now - timedelta(seconds=40))
    t = now - timedelta(seconds=40)
    send(api, notification(input_id, CONNECTED, t + timedelta(seconds=20)))
    assert edge_windows_of(db, session_id) == []
    # When the disconnect arrives late
    late = send(api, notification(input_id, DISCONNECTED, t + timedelta(seconds=10)))
    # Then its window opens at its own time and is already closed by the connect after it
    assert late.data["effect"] == "windowOpened"
    window = (t + timedelta(seconds=10), t + timedelta(seconds=20))
    assert edge_windows_of(db, session_id) == [window]
    clean, ended_at = end(api, consumer, db, session_id)
    assert clean == clean_seconds(started_at, ended_at, [window])


def test_a_late_connect_closes_the_window_it_ends_and_a_later_disconnect_stays_open(api: Api, parties, db) -> None:
    consumer, operator = parties
    now = datetime.now(UTC)
    session_id, input_id, _ = live(api, consumer, operator, now - timedelta(seconds=60))
    t = now - timedelta(seconds=50)
    send(api, notification(input_id, DISCONNECTED, t))
    send(api, notification(input_id, DISCONNECTED, t + timedelta(seconds=20)))
    assert edge_windows_of(db, session_id) == [(t, None)]

    late = send(api, notification(input_id, CONNECTED, t + timedelta(seconds=10)))

    assert late.data["effect"] == "windowClosed"
    assert edge_windows_of(db, session_id) == [(t, t + timedelta(seconds=10)), (t + timedelta(seconds=20), None)]


def test_an_errored_input_counts_as_a_disconnect_until_it_connects_again(api: Api, parties, db) -> None:
    consumer, operator = parties
    now = datetime.now(UTC)
    session_id, input_id, started_at = live(api, consumer, operator, now - timedelta(seconds=30))
    errored_at, up_at = now - timedelta(seconds=20), now - timedelta(seconds=15)
    error = {"live_input_errored": {"error": {"code": "ERR_GOP_OUT_OF_RANGE", "message": "keyframe interval"}}}

    reply = send(api, notification(input_id, ERRORED, errored_at, **error))
    send(api, notification(input_id, CONNECTED, up_at))

    assert (reply.status, reply.data) == (200, {"event": ERRORED, "effect": "windowOpened"})
    assert edge_windows_of(db, session_id) == [(errored_at, up_at)]
    clean, ended_at = end(api, consumer, db, session_id)
    assert clean == clean_seconds(started_at, ended_at, [(errored_at, up_at)])


def test_a_disconnect_before_live_counts_from_started_at(api: Api, parties, db) -> None:
    # Given a started session whose input disconnects before its first frame (ASSIGNED)
    consumer, operator = parties
    now = datetime.now(UTC)
    s = started(api, consumer, operator)
    down_at, up_at = now - timedelta(seconds=50), now - timedelta(seconds=30)
    assert send(api, notification(s["videoBackendRef"], DISCONNECTED, down_at)).data["effect"] == "windowOpened"
    # When it goes LIVE, then reconnects
    started_at = wiring.sessions().go_live(s["id"], now - timedelta(seconds=40)).started_at
    assert started_at is not None
    send(api, notification(s["videoBackendRef"], CONNECTED, up_at))
    # Then the window counts only from startedAt: 10 s of it
    assert edge_windows_of(db, s["id"]) == [(down_at, up_at)]
    clean, ended_at = end(api, consumer, db, s["id"])
    assert clean == clean_seconds(started_at, ended_at, [(started_at, up_at)])


def test_an_event_after_the_session_ended_changes_nothing(api: Api, parties, db) -> None:
    consumer, operator = parties
    now = datetime.now(UTC)
    session_id, input_id, _ = live(api, consumer, operator, now - timedelta(seconds=20))
    clean, _ = end(api, consumer, db, session_id)

    late = send(api, notification(input_id, DISCONNECTED, now - timedelta(seconds=10)))

    assert (late.status, late.data["effect"]) == (200, "none")
    assert all_windows(db, session_id) == []
    assert api("GET", f"/api/v1/sessions/{session_id}", consumer.key).data["cleanSeconds"] == clean


# -- every order, concurrently ------------------------------------------------------------------------------------


def live_input(api: Api, consumer: Workspace, workspace: WorkspaceFactory) -> tuple[str, str]:
    """A LIVE session (of a new operator: each holds a few at most) holding a live input id of our own (no edge
    call): (session id, input id)."""
    operator = workspace("SUPPLIER")
    session_id = api("POST", "/api/v1/sessions", consumer.key, {"lat": 1, "lng": 2}).data["id"]
    assert api("POST", f"/api/v1/sessions/{session_id}/accept", operator.key).status == 200
    input_id = uuid.uuid4().hex
    store = wiring.sessions().store
    assert store.cas_attach_video(session_id, input_id, "http://edge/whip/x", "http://edge/whep/x").won
    wiring.sessions().go_live(session_id, T0)
    return session_id, input_id


def deliver(input_id: str, event: str, at: datetime) -> str:
    """Deliver a notification in process, as the handler does."""
    ack = wiring.webhooks().receive({"cf-webhook-auth": WEBHOOK_SECRET}, notification(input_id, event, at))
    return ack.effect


def down_after(sequence: list[tuple[str, int]], t: float) -> bool:
    """Whether the input is down at `t` by the events alone (written out independently of the code under test): the
    latest instant at or before `t` that has events decides, and at one instant a connect wins."""
    instants = [at for _, at in sequence if at <= t]
    return bool(instants) and all(event != CONNECTED for event, at in sequence if at == max(instants))


def covers(windows: list[tuple[datetime, datetime | None]], at: datetime) -> bool:
    return any(opened <= at and (closed is None or at < closed) for opened, closed in windows)


events_strategy = st.lists(
    st.tuples(st.sampled_from([CONNECTED, DISCONNECTED, ERRORED]), st.integers(min_value=0, max_value=30)),
    min_size=1,
    max_size=6,
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=events_strategy, data=st.data())
def test_every_delivery_order_yields_the_same_windows(
    api: Api, workspace: WorkspaceFactory, db, events: list[tuple[str, int]], data: st.DataObject
) -> None:
    # Given a random sequence of live-input events (repeats, errors and same-second events included)
    consumer = workspace("CONSUMER")
    sequence = [(event, T0 + timedelta(seconds=s)) for event, s in events]
    # When it is delivered in two different orders, each to its own session, with one event delivered twice
    orders = [sequence, data.draw(st.permutations(sequence), label="order")]
    results = []
    for order in orders:
        session_id, input_id = live_input(api, consumer, workspace)
        for event, at in order:
            deliver(input_id, event, at)
        deliver(input_id, *order[0])
        results.append(edge_windows_of(db, session_id))
    # Then both orders give the same windows
    assert results[0] == results[1]
    windows = results[0]
    # And they are what the events say: the input is inside a window exactly while it is down (checked between
    # every two seconds), each window opens at a disconnect or error and closes at a connect, and only the last is open
    for half in range(-1, 62):
        t = half / 2 + 0.25
        assert covers(windows, T0 + timedelta(seconds=t)) == down_after(events, t), (t, windows)
    assert all((DISCONNECTED, o) in sequence or (ERRORED, o) in sequence for o, _ in windows)
    assert all((CONNECTED, c) in sequence for _, c in windows if c is not None)
    assert all(c is not None for _, c in windows[:-1])


W = [T0 + timedelta(seconds=s) for s in range(31)]  # the instants the cases below use


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([(DISCONNECTED, 0), (DISCONNECTED, 5), (CONNECTED, 10)], [(W[0], W[10])]),
        ([(ERRORED, 0), (CONNECTED, 10), (CONNECTED, 15)], [(W[0], W[10])]),
        ([(CONNECTED, 0), (DISCONNECTED, 10)], [(W[10], None)]),
        ([(DISCONNECTED, 10), (CONNECTED, 5)], [(W[10], None)]),
        ([(DISCONNECTED, 0), (DISCONNECTED, 10), (CONNECTED, 10)], [(W[0], W[10])]),
        ([(DISCONNECTED, 0), (CONNECTED, 10), (ERRORED, 20), (DISCONNECTED, 25)], [(W[0], W[10]), (W[20], None)]),
    ],
    ids=[
        "a-repeated-disconnect-keeps-the-first-opening",
        "an-error-opens-and-a-second-connect-changes-nothing",
        "a-disconnect-after-the-last-connect-stays-open",
        "a-connect-before-the-disconnect-closes-nothing",
        "at-one-instant-the-connect-wins",
        "two-outages-the-last-one-open",
    ],
)
def test_events_in_any_order_yield_the_windows_they_describe(
    api: Api, workspace: WorkspaceFactory, db, events: list[tuple[str, int]], expected: list
) -> None:
    # Given a live input's events, delivered in every order (each order to a session of its own)
    consumer = workspace("CONSUMER")
    sequence = [(event, W[s]) for event, s in events]
    seen = set()
    for order in sorted(set(itertools.permutations(sequence))):
        session_id, input_id = live_input(api, consumer, workspace)
        for event, at in order:
            deliver(input_id, event, at)
        seen.add(tuple(edge_windows_of(db, session_id)))
    # Then every order yields the windows written out above
    assert seen == {tuple(expected)}


def test_all_orders_of_four_events_yield_the_same_windows(api: Api, workspace: WorkspaceFactory, db) -> None:
    consumer = workspace("CONSUMER")
    t = [T0 + timedelta(seconds=s) for s in (0, 10, 20, 30)]
    sequence = [(DISCONNECTED, t[0]), (CONNECTED, t[1]), (ERRORED, t[2]), (CONNECTED, t[3])]
    seen = set()
    for order in itertools.permutations(sequence):
        session_id, input_id = live_input(api, consumer, workspace)
        for event, at in order:
            deliver(input_id, event, at)
        seen.add(tuple(edge_windows_of(db, session_id)))
    assert seen == {((t[0], t[1]), (t[2], t[3]))}


def test_two_deliveries_at_once_for_one_input_both_count(
    api: Api, workspace: WorkspaceFactory, db, database_url: str
) -> None:
    # Given a LIVE session whose row another transaction holds (as /end, or another delivery, would)
    session_id, input_id = live_input(api, workspace("CONSUMER"), workspace)
    down_at, up_at = T0 + timedelta(seconds=5), T0 + timedelta(seconds=9)
    holder = psycopg.connect(database_url)
    holder.execute("SELECT 1 FROM sessions WHERE id = %s FOR UPDATE", (session_id,))
    effects: dict[str, str] = {}

    def worker(event: str, at: datetime) -> None:
        """One Lambda: its own connection, the production classes."""
        with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
            windows = WindowService(PgSessionStore(), PgEdgeEventStore(lambda: conn))
            service = WebhookService(CloudflareWebhooks(lambda: WEBHOOK_SECRET), windows)
            body = notification(input_id, event, at)
            effects[event] = service.receive({"cf-webhook-auth": WEBHOOK_SECRET}, body).effect

    # When its disconnect and its connect are delivered at the same moment
    threads = [threading.Thread(target=worker, args=a) for a in ((DISCONNECTED, down_at), (CONNECTED, up_at))]
    for thread in threads:
        thread.start()
    wait_until(lambda: _waiting_for_locks(db) >= 2, 10)
    holder.rollback()
    holder.close()
    for thread in threads:
        thread.join(30)
    # Then the window reflects both events, whichever ran first
    assert edge_windows_of(db, session_id) == [(down_at, up_at)]
    assert effects[DISCONNECTED] == "windowOpened"
    assert effects[CONNECTED] in ("none", "windowClosed")


def _waiting_for_locks(db: psycopg.Connection) -> int:
    (waiting,) = db.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    ).fetchone()
    return int(waiting)


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout:g} s")
        time.sleep(interval)
