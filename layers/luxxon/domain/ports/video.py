"""The video edge: live inputs, the edge's webhooks and the events and windows derived from them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from luxxon.domain.ports.sessions import Session, Window


@dataclass(frozen=True, slots=True)
class LiveInput:
    """One live input. `status` is the edge's connection status (e.g. "connected"), None when nobody publishes."""

    uid: str
    whip_url: str = field(repr=False)
    whep_url: str = field(repr=False)
    status: str | None = None


class VideoBackendError(Exception):
    """The video backend refused or could not be reached. `status` is the HTTP status (None: no response)."""

    def __init__(self, message: str, *, status: int | None = None, codes: tuple[int, ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.codes = codes

    @property
    def retryable(self) -> bool:
        """True when trying again later may succeed (network failure, throttling, a server-side error)."""
        return self.status is None or self.status == 429 or self.status >= 500


@dataclass(frozen=True, slots=True)
class LiveInputSummary:
    """A live input as the backend lists it (no URLs): `name` is the one it was created with."""

    uid: str
    name: str | None
    created: datetime | None


@runtime_checkable
class VideoBackend(Protocol):
    def create_live_input(self, name: str) -> LiveInput:
        """Provision a live input named `name` (WebRTC in, WebRTC out, no recording)."""
        ...

    def get_live_input(self, uid: str) -> LiveInput | None:
        """The live input, or None when it does not exist (never created, or deleted)."""
        ...

    def delete_live_input(self, uid: str) -> None:
        """Tear the live input down. Idempotent: deleting one that does not exist is not an error."""
        ...

    def list_live_inputs(self) -> list[LiveInputSummary]:
        """Every live input of the account (to find the ones no session holds)."""
        ...


class WindowSource(StrEnum):
    """Who reported a disconnect window. Each source keeps its own windows (at most one open per session, reason and
    source), so one source never closes another's; the meter counts the union of all of them."""

    EDGE = "edge"  # the video edge's live-input notifications (NETWORK_ERROR)
    DECODER = "decoder"  # the frame decoder: no decodable frame for a while (NETWORK_ERROR)
    OPERATOR = "operator"  # the operator's side: telemetry (STALE_TELEMETRY, OUTSIDE_GEOFENCE)


class InputSignal(StrEnum):
    """What a video-edge event says about a live input's publisher."""

    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    ERRORED = "errored"  # the edge reports an error with the input (bad codec, GOP, quota...)


@dataclass(frozen=True, slots=True)
class EdgeEvent:
    """A verified notification from the video edge.

    A live-input event has `input_id`, `signal` and `at`; any other notification (a destination's test message,
    another product's alert) has `signal` None and changes nothing.
    """

    key: bytes  # identifies the event by its content: the same bytes on every redelivery of it
    event_type: str  # the edge's name for it (e.g. live_input.disconnected)
    input_id: str | None
    signal: InputSignal | None
    at: datetime | None  # when the edge saw it (its own clock, not the delivery's)


@dataclass(frozen=True, slots=True)
class InputEvent:
    """One recorded event of a live input: when the edge saw it and what it said."""

    at: datetime
    signal: InputSignal


class WebhookRejected(Exception):
    """A notification that is not authentic (`reason`), or authentic but malformed (`malformed_field`)."""

    def __init__(self, reason: str, malformed_field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.malformed_field = malformed_field


class EdgeWebhooks(Protocol):
    def verify(self, headers: Mapping[str, str], body: bytes) -> EdgeEvent:
        """The event, or WebhookRejected."""
        ...


class EdgeEventStore(Protocol):
    """Every live input's edge events, and the edge's disconnect windows derived from them."""

    def atomic(self) -> AbstractContextManager[None]: ...
    def lock_session_of_input(self, input_id: str) -> Session | None:
        """Inside `atomic`: the session holding this live input (terminal sessions hold none), its row locked, so
        deliveries for one input (and the session's own transitions) take turns."""
        ...

    def record(self, event: EdgeEvent) -> bool:
        """Keep a live-input event; False when it was already kept (a redelivery)."""
        ...

    def events_of(self, input_id: str) -> list[InputEvent]: ...
    def windows(self, session_id: str, reason: str, source: str) -> list[Window]: ...
    def replace_windows(
        self, session_id: str, reason: str, source: str, remove: Sequence[Window], add: Sequence[Window]
    ) -> None:
        """Delete the windows `remove`, then insert `add` (of this session, reason and source)."""
        ...

    def prune(self, older_than_s: int) -> int:
        """Forget events received longer ago than that (no session they belong to can still be billed)."""
        ...
