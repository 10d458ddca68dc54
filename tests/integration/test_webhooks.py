"""POST /webhooks/stream: the video edge's live-input notifications, verified, de-duplicated and applied."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from luxxon import wiring
from luxxon.adapters.video import sign_webhook
from tests.conftest import WEBHOOK_SECRET, Api, started

pytestmark = pytest.mark.usefixtures("video_env")


def signed(body: dict, at: int | None = None, secret: str = WEBHOOK_SECRET) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    return raw, {"Webhook-Signature": sign_webhook(raw, secret, at or int(time.time()))}


def notification(input_id: str, event: str, at: datetime) -> dict:
    stamp = at.isoformat().replace("+00:00", "Z")
    return {"name": "edge", "text": "", "data": {"input_id": input_id, "event_type": event, "updated_at": stamp}}


class TestWebhooks:
    def send(self, api: Api, body: bytes, headers: dict[str, str]):
        return api("POST", "/api/v1/webhooks/stream", raw_body=body.decode(), headers=headers)

    def test_disconnect_then_reconnect_opens_and_closes_a_window_the_meter_subtracts(self, api: Api, parties) -> None:
        consumer, operator = parties
        s = started(api, consumer, operator)
        now = datetime.now(UTC)
        wiring.sessions().go_live(s["id"], now - timedelta(seconds=40.2))
        down = self.send(
            api, *signed(notification(s["videoBackendRef"], "live_input.disconnected", now - timedelta(seconds=30)))
        )
        assert (down.status, down.data["effect"]) == (200, "windowOpened")
        up = self.send(
            api, *signed(notification(s["videoBackendRef"], "live_input.connected", now - timedelta(seconds=10)))
        )
        assert (up.status, up.data["effect"]) == (200, "windowClosed")
        ended = api("POST", f"/api/v1/sessions/{s['id']}/end", consumer.key).data
        assert ended["cleanSeconds"] in (20, 21)

    @pytest.mark.parametrize("forgery", ["wrong secret", "stale", "tampered", "missing"])
    def test_forged_stale_or_unsigned_webhooks_are_401_and_change_nothing(
        self, api: Api, parties, database_url: str, forgery: str
    ) -> None:
        consumer, operator = parties
        s = started(api, consumer, operator)
        wiring.sessions().go_live(s["id"], datetime.now(UTC))
        body, headers = signed(
            notification(s["videoBackendRef"], "live_input.disconnected", datetime.now(UTC)),
            at=int(time.time()) - 3600 if forgery == "stale" else None,
            secret="not-the-secret" if forgery == "wrong secret" else WEBHOOK_SECRET,
        )
        if forgery == "tampered":
            body = body.replace(b"disconnected", b"connected")
        if forgery == "missing":
            headers = {}
        reply = self.send(api, body, headers)
        assert (reply.status, reply.error) == (401, ("NOT_AUTHENTICATED", "webhook:badSignature"))
        with psycopg.connect(database_url) as conn:
            windows = conn.execute("SELECT count(*) FROM disconnect_windows WHERE session_id = %s", (s["id"],))
            assert windows.fetchone() == (0,)

    def test_a_replayed_webhook_is_401(self, api: Api, parties) -> None:
        consumer, operator = parties
        s = started(api, consumer, operator)
        body, headers = signed(notification(s["videoBackendRef"], "live_input.connected", datetime.now(UTC)))
        assert self.send(api, body, headers).status == 200
        reply = self.send(api, body, headers)
        assert (reply.status, reply.error) == (401, ("NOT_AUTHENTICATED", "webhook:replayed"))

    @pytest.mark.parametrize(
        "rewrite",
        [lambda t, s: f"time={t}, sig1={s}", lambda t, s: f"sig1={s},time={t}", lambda t, s: f"time={t},sig1={s},v=1"],
    )
    def test_a_replay_with_a_reshaped_signature_header_is_still_a_replay(self, api: Api, parties, rewrite) -> None:
        consumer, operator = parties
        s = started(api, consumer, operator)
        body, headers = signed(notification(s["videoBackendRef"], "live_input.connected", datetime.now(UTC)))
        assert self.send(api, body, headers).status == 200
        fields = dict(part.split("=", 1) for part in headers["Webhook-Signature"].split(","))
        reshaped = {"Webhook-Signature": rewrite(fields["time"], fields["sig1"])}
        reply = self.send(api, body, reshaped)
        assert (reply.status, reply.error) == (401, ("NOT_AUTHENTICATED", "webhook:replayed"))

    def test_an_event_for_an_unknown_live_input_changes_nothing(self, api: Api) -> None:
        body, headers = signed(notification(uuid.uuid4().hex, "live_input.disconnected", datetime.now(UTC)))
        reply = self.send(api, body, headers)
        assert (reply.status, reply.data["effect"]) == (200, "none")
