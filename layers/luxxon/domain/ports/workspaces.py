"""Workspaces, their API keys and the principal a request acts as."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the workspace, the key used, what that key may do and what the workspace is."""

    workspace_id: str
    key_id: str
    scopes: frozenset[str]
    roles: frozenset[str]


@dataclass(frozen=True, slots=True)
class NewKey:
    key: str = field(repr=False)  # shown once, never stored
    prefix: str
    key_hash: bytes


class WorkspaceStore(Protocol):
    def atomic(self) -> AbstractContextManager[None]:
        """A unit of work: every call inside runs in one transaction."""
        ...

    def principal_by_key_hash(self, key_hash: bytes) -> Principal | None: ...
    def create_workspace(
        self,
        name: str,
        roles: list[str],
        availability: str,
        wallet_address: str | None,
        coverage_geojson: dict[str, Any] | None,
        coverage_circle: tuple[float, float, float] | None,
    ) -> Row: ...
    def get_workspace(self, workspace_id: str) -> Row | None: ...
    def set_wallet(self, workspace_id: str, wallet_address: str) -> Row | None: ...
    def measure_coverage(self, geojson: dict[str, Any]) -> float | None:
        """How far the area reaches from its centroid, in metres; None when it is not valid, non-empty geometry."""
        ...

    def update_workspace(
        self, workspace_id: str, name: str | None, availability: str | None, coverage_geojson: dict[str, Any] | None
    ) -> Row | None: ...
    def create_key(self, workspace_id: str, name: str, scopes: list[str], key: NewKey) -> Row: ...
    def get_key(self, workspace_id: str, key_id: str) -> Row | None: ...
    def list_keys(self, workspace_id: str) -> list[Row]: ...
    def revoke_key(self, workspace_id: str, key_id: str) -> Row | None: ...
