"""Decoder leases: which worker decodes which session."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from luxxon.domain.states import SessionState


@dataclass(frozen=True, slots=True)
class Lease:
    """A session this decoder process just claimed."""

    session_id: str
    state: SessionState
    whep_url: str = field(repr=False)
    generation: int  # 1 on the first claim, +1 on each takeover (a claim after a release starts again at 1)
    # The fencing token of this claim: its time on the database clock, in microseconds since the epoch. Unlike the
    # generation it grows with every claim of the session, a takeover or a claim after a release, so the frame store
    # can refuse the writes of any earlier holder (FrameStore.put).
    token: int


@dataclass(frozen=True, slots=True)
class LeaseStatus:
    """One lease this owner held at renewal time, and what became of it."""

    session_id: str
    state: SessionState
    whep_url: str | None = field(repr=False)
    renewed: bool  # False: released in the same statement (the session is terminal, or no longer decoded here)


class LeaseStore(Protocol):
    def claim(self, owner: str, limit: int, ttl_s: float) -> list[Lease]: ...
    def renew(self, owner: str, keep: Sequence[str], ttl_s: float) -> list[LeaseStatus]: ...
    def release(self, owner: str, session_ids: Sequence[str] | None = None) -> int: ...
    def backlog(self) -> int: ...
    def prune_expired(self, older_than_s: int) -> int:
        """Delete leases that expired more than `older_than_s` ago (their decoder died; nobody renews them)."""
        ...
