"""Decoded frames and the store that keeps the latest of each session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Frame:
    jpeg: bytes
    captured_at: datetime


class FrameStoreUnavailable(Exception):
    """The frame store could not be reached (or answered an error)."""


class FrameStore(Protocol):
    """Raises FrameStoreUnavailable when the store cannot be reached.

    Writes are fenced. `put` carries the writer's lease token (`Lease.token`: it grows with every claim of the
    session), the store keeps it with the frame and, atomically with the write, refuses a token lower than the one
    stored: a decoder whose lease was claimed again cannot overwrite the new holder's frames. It answers True when
    the frame is stored, False when it was refused (the caller no longer holds the session)."""

    def put(self, session_id: str, frame: Frame, token: int) -> bool: ...
    def get(self, session_id: str) -> Frame | None: ...
    def delete(self, session_id: str) -> None: ...
