"""Live-input events, sent the way Cloudflare Stream Live sends them: as Cloudflare Notifications webhooks.

Each event is one POST of the Notifications body (`live_input_notification`) carrying the destination's secret in
the `cf-webhook-auth` header (https://developers.cloudflare.com/stream/stream-live/webhooks/). One worker delivers
them in order, retrying a failed delivery with backoff; a retry sends the very same body (a redelivery).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp

from luxxon.adapters.video import WEBHOOK_AUTH_HEADER

log = logging.getLogger("luxxon.edge.webhooks")
NOTIFICATION_NAME = "Stream Live Input"


def rfc3339_ns(at: datetime) -> str:
    """`2022-01-13T11:43:41.855717000Z`: UTC with nine fractional digits, as Cloudflare writes `updated_at`."""
    utc = at.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond:06d}000Z"


def live_input_notification(input_id: str, event_type: str, at: datetime, *, name: str) -> bytes:
    """The body Cloudflare sends for a live-input event (`event_type`: live_input.connected, .disconnected or
    .errored) the edge saw at `at` (`data.updated_at`; `ts`, when the notification was generated, is the same
    second here)."""
    updated_at = rfc3339_ns(at)
    text = (
        f"Notification type: {NOTIFICATION_NAME}\nInput ID: {input_id}\n"
        f"Event type: {event_type}\nUpdated at: {updated_at}"
    )
    body = {
        "name": name,
        "text": text,
        "data": {
            "notification_name": NOTIFICATION_NAME,
            "input_id": input_id,
            "event_type": event_type,
            "updated_at": updated_at,
        },
        "ts": int(at.timestamp()),
    }
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass(frozen=True)
class _Pending:
    input_id: str
    event_type: str
    at: datetime


class WebhookSender:
    """Queue notifications with `notify()`; a background task POSTs them to `url` with `secret` in
    `cf-webhook-auth`."""

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        name: str = "Luxxon local edge",
        attempts: int = 5,
        timeout_s: float = 5.0,
        backoff_s: float = 0.5,
    ) -> None:
        self.url = url
        self._secret = secret
        self._name = name
        self._attempts = attempts
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._backoff_s = backoff_s
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.delivered = 0
        self.failed = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="edge-webhooks")

    def notify(self, input_id: str, event_type: str) -> None:
        self._queue.put_nowait(_Pending(input_id, event_type, datetime.now(UTC)))

    async def close(self, drain_timeout_s: float = 2.0) -> None:
        """Deliver what is queued (bounded by `drain_timeout_s`), then stop."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), drain_timeout_s)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        async with aiohttp.ClientSession(timeout=self._timeout) as http:
            while True:
                pending = await self._queue.get()
                try:
                    await self._deliver(http, pending)
                finally:
                    self._queue.task_done()

    async def _deliver(self, http: aiohttp.ClientSession, pending: _Pending) -> None:
        body = live_input_notification(pending.input_id, pending.event_type, pending.at, name=self._name)
        headers = {"Content-Type": "application/json", WEBHOOK_AUTH_HEADER: self._secret}
        for attempt in range(self._attempts):
            try:
                async with http.post(self.url, data=body, headers=headers) as response:
                    if 200 <= response.status < 300:
                        self.delivered += 1
                        log.info("webhook %s %s delivered", pending.event_type, pending.input_id)
                        return
                    reason = f"HTTP {response.status}"
            except (aiohttp.ClientError, TimeoutError) as error:
                reason = type(error).__name__
            log.warning(
                "webhook %s %s attempt %d failed: %s", pending.event_type, pending.input_id, attempt + 1, reason
            )
            if attempt + 1 < self._attempts:
                await asyncio.sleep(self._backoff_s * 2**attempt)
        self.failed += 1
        log.error("webhook %s %s dropped after %d attempts", pending.event_type, pending.input_id, self._attempts)
