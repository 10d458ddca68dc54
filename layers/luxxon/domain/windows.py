"""NETWORK_ERROR windows from the video plane's two sources: the edge's live-input events and the frame decoder.

Each source keeps its own windows (`ports.video.WindowSource`); the meter counts the union of every source's windows, so
a disconnect both sources saw is charged once, and one source's recovery never closes the other's window.

The edge (Cloudflare Notifications). The scheme signs no timestamp and may redeliver or reorder, so the edge's
windows are not toggled event by event: every event of the input is kept once (a redelivery is a no-op), and the
session's edge windows are derived again from all of them, in the edge's own time order (`edge_windows`), inside a
unit of work that locks the session row. Every delivery order therefore yields the same windows: a late disconnect
opens its window at its own time and closes it at the next connect after it, and a window a later connect already
closed is never left open. `live_input.errored` counts like a disconnect (the input stopped producing usable
media); the next connect ends it.

Which sessions: a session holding the live input (ASSIGNED, LIVE or PAUSED; a terminal session holds none). Events
before LIVE are kept too: a window that began before the first frame counts from `startedAt`, since the meter only
counts windows inside [startedAt, end]. Once the session is terminal its bill is final and events change nothing.

The decoder: when a LIVE (or PAUSED) session's decoder gets no decodable frame for a while it opens a window at
the last decoded frame's time, and closes it at the first new frame's time (`media_stalled`, `media_resumed`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from luxxon.domain.ports.sessions import SessionStore, Window
from luxxon.domain.ports.video import EdgeEvent, EdgeEventStore, InputEvent, InputSignal, WindowSource
from luxxon.domain.states import METERED, VIDEO_ACTIVE
from luxxon.models.sessions import DisconnectReason

NETWORK_ERROR = DisconnectReason.NETWORK_ERROR.value
OPENS = frozenset({InputSignal.DISCONNECTED, InputSignal.ERRORED})  # what opens an edge window (CONNECTED closes it)
# At the same instant a disconnect sorts before a connect, so a tie never leaves a window open.
_ORDER = {InputSignal.DISCONNECTED: 0, InputSignal.ERRORED: 0, InputSignal.CONNECTED: 1}

WINDOW_OPENED, WINDOW_CLOSED, NONE = "windowOpened", "windowClosed", "none"


def edge_windows(events: Iterable[InputEvent]) -> list[Window]:
    """The disconnect windows a live input's events imply, whatever order they arrived in.

    In the edge's time order, a disconnect (or error) while connected opens a window at its time; the next connect
    closes it. Repeated events of one kind change nothing. At most the last window is open.
    """
    windows: list[Window] = []
    opened: datetime | None = None
    for event in sorted(events, key=lambda e: (e.at, _ORDER[e.signal])):
        if event.signal in OPENS:
            if opened is None:
                opened = event.at
        elif opened is not None:
            windows.append((opened, event.at))
            opened = None
    if opened is not None:
        windows.append((opened, None))
    return windows


def _effect(event: InputEvent, before: list[Window], after: list[Window]) -> str:
    """What the event changed, as the acknowledgement reports it."""
    if before == after:
        return NONE
    if event.signal in OPENS and any(opened == event.at for opened, _ in after):
        return WINDOW_OPENED
    if event.signal is InputSignal.CONNECTED and any(closed == event.at for _, closed in after):
        return WINDOW_CLOSED
    return NONE


class WindowService:
    def __init__(self, sessions: SessionStore, events: EdgeEventStore) -> None:
        self.sessions = sessions
        self.events = events

    # -- the edge ------------------------------------------------------------------------------------------------
    def edge_event(self, event: EdgeEvent) -> str:
        """Apply a verified edge notification; returns its effect (windowOpened, windowClosed or none)."""
        if event.signal is None or event.input_id is None or event.at is None:
            return NONE  # not about a live input (e.g. the destination's test message)
        with self.events.atomic():
            session = self.events.lock_session_of_input(event.input_id)
            if session is None or session.state not in VIDEO_ACTIVE:
                return NONE  # no such input here, or its session is over (its bill is final)
            if not self.events.record(event):
                return NONE  # a redelivery
            wanted = edge_windows(self.events.events_of(event.input_id))
            current = self.events.windows(session.id, NETWORK_ERROR, WindowSource.EDGE.value)
            remove = [w for w in current if w not in wanted]
            add = [w for w in wanted if w not in current]
            if remove or add:
                self.events.replace_windows(session.id, NETWORK_ERROR, WindowSource.EDGE.value, remove, add)
        return _effect(InputEvent(event.at, event.signal), current, wanted)

    # -- the decoder ---------------------------------------------------------------------------------------------
    def media_stalled(self, session_id: str, last_frame_at: datetime, lease_owner: str) -> bool:
        """No decodable frame for a while: open the decoder's window at the last decoded frame's time. True when
        it opened one (False: one is open already, the session has no running meter, or `lease_owner` no longer holds
        the session's lease: a decoder paused past its lease changes nothing its successor decodes)."""
        return self.sessions.open_window(
            session_id,
            NETWORK_ERROR,
            last_frame_at,
            METERED,
            source=WindowSource.DECODER.value,
            lease_owner=lease_owner,
        )

    def media_resumed(self, session_id: str, first_frame_at: datetime, lease_owner: str) -> bool:
        """Frames decode again: close the decoder's open window at the first new frame's time. True when it closed
        one (fenced by the lease as `media_stalled`)."""
        return self.sessions.close_window(
            session_id, NETWORK_ERROR, first_frame_at, source=WindowSource.DECODER.value, lease_owner=lease_owner
        )
