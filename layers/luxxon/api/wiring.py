"""The composition root: domain services wired to their PostgreSQL stores, built once per process."""

from __future__ import annotations

from functools import cache

from luxxon.config import get_settings
from luxxon.db.identity import PgIdentityStore
from luxxon.db.sessions import PgSessionStore
from luxxon.domain.sessions import SessionService
from luxxon.domain.workspaces import WorkspaceService


@cache
def identity_store() -> PgIdentityStore:
    return PgIdentityStore()


@cache
def sessions() -> SessionService:
    return SessionService(PgSessionStore(), get_settings())


@cache
def workspaces() -> WorkspaceService:
    return WorkspaceService(identity_store())
