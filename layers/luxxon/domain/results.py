"""What a use case that writes hands back to the API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Written(Generic[T]):
    """The result of a write and the consistency token of the transaction that made it (None: nothing written).
    `replayed`: the response an earlier request with the same Idempotency-Key got, not a new write."""

    value: T
    token: str | None
    replayed: bool = False
