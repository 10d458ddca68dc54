"""The session states and the named sets of them: the one place a state's name is written.

SQL receives these as parameters. Where a partial index's predicate must match a statement (a generic plan can use
a partial index only when it can prove the predicate from literals), the statement renders the literal from here
with `sql_in`, and a test compares every partial index's predicate on `sessions` with these sets.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class SessionState(StrEnum):
    REQUESTED = "REQUESTED"
    ASSIGNED = "ASSIGNED"
    LIVE = "LIVE"
    PAUSED = "PAUSED"
    ENDED = "ENDED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"


S = SessionState

# Waiting for a supplier (REQUESTED) or for the first frame (ASSIGNED): the consumer may cancel, the wait deadline
# expires it, and no meter runs.
PRE_LIVE = frozenset({S.REQUESTED, S.ASSIGNED})
# Media has flowed: the meter runs from startedAt, disconnect windows count.
METERED = frozenset({S.LIVE, S.PAUSED})
# May hold a live input (from /start) and so need a decoder; an operator with one of these is BUSY.
VIDEO_ACTIVE = frozenset({S.ASSIGNED, S.LIVE, S.PAUSED})
# Nothing happens to these any more.
TERMINAL = frozenset({S.ENDED, S.EXPIRED, S.CANCELLED})


def sql_in(states: Iterable[SessionState]) -> str:
    """`'A', 'B'`: the states as SQL literals, for predicates that must match a partial index."""
    return ", ".join(f"'{s.value}'" for s in sorted(states))


def names(states: Iterable[SessionState]) -> list[str]:
    """The states as a parameter (`= ANY(%s)`)."""
    return sorted(s.value for s in states)
