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
    """Raises FrameStoreUnavailable when the store cannot be reached."""

    def put(self, session_id: str, frame: Frame) -> None: ...
    def get(self, session_id: str) -> Frame | None: ...
    def delete(self, session_id: str) -> None: ...
