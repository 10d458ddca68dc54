"""The meter: clean seconds and the charge. Pure; integer microseconds and µUSDC only.

The metered span is [startedAt, billedUntil) with billedUntil = min(endedAt, startedAt + maxDurationSeconds): time past
the maximum duration (a session the sweep ends late) is never billed, and neither are windows inside it.

cleanSeconds = floor((billedUntil − startedAt) / 1s) − ceil(|union of disconnect windows ∩ the span| / 1s), at least 0;
chargedMicroUsdc = cleanSeconds × rate, so never above the hold (rate × maxDurationSeconds).
Windows of different reasons or sources that overlap count once; an open window runs to the span's end. A partial
disconnected second is never charged (ceil), the consumer's side of the rounding.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

_SECOND = timedelta(seconds=1)
_US = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Meter:
    clean_seconds: int
    charged_micro_usdc: int


def disconnected(
    started_at: datetime, ended_at: datetime, windows: Iterable[tuple[datetime, datetime | None]]
) -> timedelta:
    """Length of the union of the windows clipped to [started_at, ended_at]."""
    clipped = sorted(
        (max(opened, started_at), min(closed or ended_at, ended_at))
        for opened, closed in windows
        if opened < ended_at and (closed is None or closed > started_at)
    )
    total = timedelta(0)
    cur_start: datetime | None = None
    cur_end: datetime | None = None
    for start, end in clipped:
        if end <= start:
            continue
        if cur_end is None or start > cur_end:
            if cur_start is not None and cur_end is not None:
                total += cur_end - cur_start
            cur_start, cur_end = start, end
        elif end > cur_end:
            cur_end = end
    if cur_start is not None and cur_end is not None:
        total += cur_end - cur_start
    return total


def clean_seconds(
    started_at: datetime,
    ended_at: datetime,
    windows: Iterable[tuple[datetime, datetime | None]],
    max_duration_seconds: int,
) -> int:
    billed_until = min(ended_at, started_at + timedelta(seconds=max_duration_seconds))
    wall = max(billed_until - started_at, timedelta(0)) // _SECOND
    gap_us = disconnected(started_at, billed_until, windows) // _US
    gap = -(-gap_us // 1_000_000)  # ceil
    return max(0, wall - gap)


def run(
    started_at: datetime,
    ended_at: datetime,
    windows: Iterable[tuple[datetime, datetime | None]],
    rate_per_second_micro_usdc: int,
    max_duration_seconds: int,
) -> Meter:
    seconds = clean_seconds(started_at, ended_at, windows, max_duration_seconds)
    return Meter(clean_seconds=seconds, charged_micro_usdc=seconds * rate_per_second_micro_usdc)
