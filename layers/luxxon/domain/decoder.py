"""The frame decoder's policy: which sessions need a decoder, how leases are held and lost, when to write a frame,
and when a gap in decodable media opens and closes the decoder's NETWORK_ERROR window (`MediaGap`).

Pure code (no I/O, no clock of its own): the decoder service (decoder_container/) feeds it times and store results.

Leases. A decoder process owns a session while it renews the session's lease row (`decoder_leases`); the database
clock decides expiry, so tasks on different hosts agree. A process that cannot renew fences itself: it stops
decoding before its lease can have expired in the database (`Fence`), so two decoders never decode one session at
once, even when the old one is alive but cut off from the database. What that clock cannot stop (a process paused
past its lease, whose session another process has taken over) the frame store does: every frame write carries the
lease's token and is refused once a later claim has written (`FrameStore.put`), and the old decoder then stops.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from luxxon.domain.ports.decoder import LeaseStatus
from luxxon.domain.states import VIDEO_ACTIVE, SessionState


def needs_decoder(state: SessionState, whep_url: str | None) -> bool:
    """A session needs a decoder from /start (a live input and its WHEP URL exist) until it is terminal."""
    return state in VIDEO_ACTIVE and bool(whep_url)


def owner_id(host: str, pid: int, nonce: str) -> str:
    """A lease owner: one decoder process incarnation (a restarted process is a new owner)."""
    return f"{host}:{pid}:{nonce}"


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """What the decoder must do after a renewal."""

    stop_ended: list[str]  # terminal (or gone from the video plane): stop; the lease was released
    stop_lost: list[str]  # the lease is no longer ours (taken over after expiry, or the session was deleted)
    resubscribe: dict[str, str]  # still ours but the WHEP URL changed: session id -> new URL


def reconcile(running: Mapping[str, str], statuses: Iterable[LeaseStatus]) -> Reconciliation:
    """Compare the sessions decoded here (id -> WHEP URL) with the renewal result."""
    seen: dict[str, LeaseStatus] = {s.session_id: s for s in statuses}
    ended, lost, moved = [], [], {}
    for session_id, url in running.items():
        status = seen.get(session_id)
        if status is None:
            lost.append(session_id)
        elif not status.renewed or not needs_decoder(status.state, status.whep_url):
            ended.append(session_id)
        elif status.whep_url and status.whep_url != url:
            moved[session_id] = status.whep_url
    return Reconciliation(sorted(ended), sorted(lost), moved)


@dataclass(slots=True)
class Fence:
    """How long this process may keep decoding without a successful renewal.

    A renewal sent at local time `t` extends the lease to (database time of execution) + ttl, which is later than
    `t` + ttl on the local clock; stopping at `t` + ttl - margin is therefore always before the database lets
    another process claim the session.
    """

    ttl_s: float
    margin_s: float = 1.0
    valid_until: float = float("-inf")

    def renewed(self, sent_at: float) -> None:
        self.valid_until = max(self.valid_until, sent_at + self.ttl_s - self.margin_s)

    def holds(self, now: float) -> bool:
        return now < self.valid_until


@dataclass(slots=True)
class Backoff:
    """Exponential backoff with full jitter in [delay/2, delay], reset after a success."""

    initial_s: float = 0.25
    maximum_s: float = 5.0
    factor: float = 2.0
    attempt: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def next(self) -> float:
        delay = min(self.maximum_s, self.initial_s * self.factor**self.attempt)
        self.attempt += 1
        return delay / 2 + self.rng.random() * delay / 2

    def reset(self) -> None:
        self.attempt = 0


class FrameWrite(Enum):
    """What to do with the latest decoded frame now."""

    NONE = "none"
    WRITE = "write"  # encode the latest decoded frame and store it
    REFRESH = "refresh"  # no new frame: store the last JPEG again so it outlives the store's TTL


@dataclass(slots=True)
class Cadence:
    """When to write the latest frame: at once for the first frame, then every `interval_s`; while no new frame
    arrives, re-store the last JPEG every `refresh_s` so a LIVE session keeps a readable frame."""

    interval_s: float = 1.0
    refresh_s: float = 20.0
    last_write: float | None = None
    last_seq: int = 0

    def due(self, now: float, seq: int) -> FrameWrite:
        """`seq` counts decoded frames (0: none yet)."""
        if seq == 0:
            return FrameWrite.NONE
        if self.last_write is None:
            return FrameWrite.WRITE
        if now - self.last_write < self.interval_s - 1e-3:
            return FrameWrite.NONE
        if seq != self.last_seq:
            return FrameWrite.WRITE
        return FrameWrite.REFRESH if now - self.last_write >= self.refresh_s else FrameWrite.NONE

    def written(self, now: float, seq: int) -> None:
        self.last_write, self.last_seq = now, seq

    def next_check(self, now: float) -> float:
        """Seconds until `due` may change (a new frame is signalled separately)."""
        if self.last_write is None:
            return self.interval_s
        return max(0.0, self.last_write + self.interval_s - now)


@dataclass(slots=True)
class CpuGauge:
    """The share of one core a process used lately (an exponentially weighted average of CPU time / wall time).

    A decoder process claims new sessions only while this stays below its budget, so a task fills up by what the
    streams actually cost (resolution, bitrate, codec), not by a fixed count, and the backlog scales the fleet out.
    """

    smoothing: float = 0.5  # weight of the newest sample
    share: float = 0.0
    _last: tuple[float, float] | None = None  # (wall, cpu) of the previous sample

    def sample(self, wall: float, cpu: float) -> float:
        if self._last is not None and wall > self._last[0]:
            current = (cpu - self._last[1]) / (wall - self._last[0])
            self.share = current if self.share == 0.0 else self.smoothing * current + (1 - self.smoothing) * self.share
        self._last = (wall, cpu)
        return self.share


class GapStep(Enum):
    """What the decoder must record about a gap in decodable media now."""

    OPEN = "open"  # open the decoder's NETWORK_ERROR window at `at` (the last decoded frame)
    CLOSE = "close"  # close it at `at` (the first frame after the gap)


@dataclass(slots=True)
class MediaGap:
    """When a LIVE session's media stops decoding and resumes: the decoder's own NETWORK_ERROR window.

    `frame(at)` is told every decoded frame's time (from any thread); `due(now)` says what to record: OPEN at the
    last frame's time once nothing decoded for `threshold_s`, then CLOSE at the first frame after it. `recorded`
    reports the store's answer: True or False (it applied, or had nothing to do: a window already open, a session
    that is not metered) moves on; None (it failed) makes `due` ask again. Frames that arrive while an OPEN is
    being recorded still end the gap.

    `inherited=True` (a decoder taking a LIVE session over): a window the previous decoder left open is closed at
    this decoder's first frame.
    """

    threshold_s: float = 3.0
    inherited: bool = False
    last: float | None = None  # the last decoded frame
    gap_from: float | None = None  # the gap's start (its last frame before), from the moment OPEN is due
    resumed: float | None = None  # the first frame after the gap
    open: bool = False  # the window is recorded as open

    def __post_init__(self) -> None:
        if self.inherited:
            self.gap_from, self.open = float("-inf"), True

    def frame(self, at: float) -> None:
        self.last = at
        if self.gap_from is not None and self.resumed is None:
            self.resumed = at

    def due(self, now: float) -> tuple[GapStep, float] | None:
        if self.gap_from is None:
            if self.last is not None and now - self.last >= self.threshold_s:
                self.gap_from = self.last
                return GapStep.OPEN, self.last
            return None
        if not self.open:
            return GapStep.OPEN, self.gap_from
        if self.resumed is not None:
            return GapStep.CLOSE, self.resumed
        return None

    def recorded(self, step: GapStep, applied: bool | None) -> None:
        if applied is None:
            return  # the store failed: `due` asks again
        if step is GapStep.OPEN:
            self.open = True  # now wait for frames to resume
        else:
            self.gap_from = self.resumed = None
            self.open = False
