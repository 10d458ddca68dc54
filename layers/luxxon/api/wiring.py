"""The composition root: domain services wired to their PostgreSQL stores, built once per process.

The workspace service is imported on demand: the session handlers never use it (nor its models).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from luxxon.config import get_settings
from luxxon.db.identity import PgIdentityStore
from luxxon.db.sessions import PgSessionStore
from luxxon.domain.sessions import SessionService

if TYPE_CHECKING:
    from luxxon.domain.workspaces import WorkspaceService


@cache
def identity_store() -> PgIdentityStore:
    return PgIdentityStore()


@cache
def sessions() -> SessionService:
    return SessionService(PgSessionStore(), get_settings())


@cache
def workspaces() -> WorkspaceService:
    from luxxon.domain.workspaces import WorkspaceService

    return WorkspaceService(identity_store())
