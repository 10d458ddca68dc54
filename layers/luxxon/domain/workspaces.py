"""Workspaces (tenants) and their API keys."""

from __future__ import annotations

from uuid import UUID

from luxxon.domain.idempotency import Idempotency, IdempotencyKey
from luxxon.domain.identity import new_api_key
from luxxon.domain.ports.workspaces import Principal, Row, WorkspaceStore
from luxxon.domain.results import Written
from luxxon.errors import ErrorCode, LxError, invalid_input
from luxxon.models.base import iso_ms
from luxxon.models.identity import (
    MAX_COVERAGE_RADIUS_M,
    CreateApiKeyRequest,
    LxApiKeyDto,
    LxApiKeyListDto,
    LxCreatedApiKeyDto,
    LxMeDto,
    LxWorkspaceDto,
    UpdateWorkspaceRequest,
)
from luxxon.routes import ADMIN, WORKSPACE_READ


def workspace_dto(row: Row) -> LxWorkspaceDto:
    return LxWorkspaceDto(
        id=row["id"],
        name=row["name"],
        roles=row["roles"],
        availability=row["availability"],
        coverageArea=row["coverage_area"],
        walletAddress=row["wallet_address"],
        createdAt=iso_ms(row["created_at"]) or "",
    )


def key_dto(row: Row) -> LxApiKeyDto:
    return LxApiKeyDto(
        id=row["id"],
        name=row["name"],
        prefix=row["prefix"],
        scopes=row["scopes"],
        createdAt=iso_ms(row["created_at"]) or "",
        revokedAt=iso_ms(row["revoked_at"]),
    )


def _key_not_found() -> LxError:
    return LxError(ErrorCode.API_KEY_NOT_FOUND, "apiKey:notFound")


class WorkspaceService:
    def __init__(self, store: WorkspaceStore, idempotency: Idempotency | None = None) -> None:
        self.store = store
        self.idempotency = idempotency or Idempotency(None)

    def me(self, principal: Principal) -> LxMeDto:
        """Who is calling. The workspace itself (name, wallet, coverage) is what workspace:read guards: a key
        without it (or workspace:admin) learns only its workspace's id and itself."""
        key = self.store.get_key(principal.workspace_id, principal.key_id)
        assert key is not None  # the principal was just resolved from it
        workspace = None
        if not principal.scopes.isdisjoint({WORKSPACE_READ, ADMIN}):
            row = self.store.get_workspace(principal.workspace_id)
            assert row is not None
            workspace = workspace_dto(row)
        return LxMeDto(authType="apiKey", workspaceId=principal.workspace_id, workspace=workspace, apiKey=key_dto(key))

    def get(self, principal: Principal) -> LxWorkspaceDto:
        row = self.store.get_workspace(principal.workspace_id)
        assert row is not None
        return workspace_dto(row)

    def update(self, principal: Principal, request: UpdateWorkspaceRequest) -> Written[LxWorkspaceDto]:
        """Name, availability, coverage area. A coverage area must be valid geometry and reach no farther than
        MAX_COVERAGE_RADIUS_M from its centroid: the inbox lists every request inside it, with its exact point."""
        coverage = request.coverageArea.model_dump() if request.coverageArea else None
        if coverage is not None:
            radius = self.store.measure_coverage(coverage)
            if radius is None or radius > MAX_COVERAGE_RADIUS_M:
                raise invalid_input("coverageArea")
        row = self.store.update_workspace(principal.workspace_id, request.name, request.availability, coverage)
        assert row is not None
        token = row.pop("token")
        return Written(workspace_dto(row), token)

    def create_key(
        self, principal: Principal, request: CreateApiKeyRequest, idem: IdempotencyKey | None = None
    ) -> Written[LxCreatedApiKeyDto]:
        """A new key; its secret is in this response only. With an Idempotency-Key a retry is refused (the secret
        is not kept, so it cannot be replayed): list the keys to find it by name, and revoke it if unwanted."""
        new = new_api_key()
        scopes = [scope.value for scope in request.scopes]
        with self.store.atomic():
            self.idempotency.refuse_replay(idem)
            row = self.store.create_key(principal.workspace_id, request.name, scopes, new)
            token = row.pop("token")
            created = key_dto(row)
            self.idempotency.remember(idem, Written(created, token))  # the response without its secret
        return Written(LxCreatedApiKeyDto(**created.model_dump(), key=new.key), token)

    def list_keys(self, principal: Principal) -> LxApiKeyListDto:
        return LxApiKeyListDto(items=[key_dto(r) for r in self.store.list_keys(principal.workspace_id)])

    def revoke_key(self, principal: Principal, key_id: str) -> Written[LxApiKeyDto]:
        try:
            key_id = str(UUID(key_id))
        except ValueError:
            raise _key_not_found() from None
        row = self.store.revoke_key(principal.workspace_id, key_id)
        if row is None:
            raise _key_not_found()
        token = row.pop("token")
        return Written(key_dto(row), token)

    def attach_wallet(self, workspace_id: str, wallet_address: str) -> LxWorkspaceDto:
        """Operator tooling (the admin CLI): set the workspace's wallet. No API route does this: attaching a wallet
        needs proof that the workspace owns it (wallet sign-in). Sessions already created keep the wallet stamped
        on them."""
        row = self.store.set_wallet(workspace_id, wallet_address)
        if row is None:
            raise LookupError(f"no workspace {workspace_id}")
        return workspace_dto(row)

    def bootstrap(
        self,
        name: str,
        roles: list[str],
        scopes: list[str],
        availability: str = "OFFLINE",
        wallet_address: str | None = None,
        coverage_circle: tuple[float, float, float] | None = None,
    ) -> tuple[LxWorkspaceDto, LxCreatedApiKeyDto]:
        """Operator tooling: a new workspace and its first key (the admin CLI; how local users and tests start)."""
        row = self.store.create_workspace(name, roles, availability, wallet_address, None, coverage_circle)
        new = new_api_key()
        key_row = self.store.create_key(row["id"], "bootstrap", sorted(set(scopes)), new)
        key_row.pop("token")
        return workspace_dto(row), LxCreatedApiKeyDto(**key_dto(key_row).model_dump(), key=new.key)
