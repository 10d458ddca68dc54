"""The composition root: every service wired to its stores and adapters, built once per process.

Used alike by the API handlers, the sweep, the decoder, the admin CLI and the local system. Importing it costs the
settings model only: every service, store and adapter is imported and built on its first use, so a handler imports
what its route uses (`/health` none of it) and a SnapStart snapshot warms the rest (luxxon.api.snapstart). The web3
half (the relayer and the indexer) is `luxxon.wiring_chain`, beside this module, so no API handler can reach web3.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from luxxon.adapters.queue import SqsSettlementQueue
    from luxxon.config import Settings
    from luxxon.db.decoder import PgLeaseStore
    from luxxon.db.settlements import PgSettlementStore
    from luxxon.db.workspaces import PgWorkspaceStore
    from luxxon.domain.idempotency import Idempotency
    from luxxon.domain.outbox import OutboxService
    from luxxon.domain.ports.frames import FrameStore
    from luxxon.domain.ports.money import WalletReader
    from luxxon.domain.ports.video import VideoBackend
    from luxxon.domain.pricing import PricingService
    from luxxon.domain.sessions import SessionService
    from luxxon.domain.sweep import Sweep
    from luxxon.domain.wallets import MoneyViews
    from luxxon.domain.webhooks import WebhookService
    from luxxon.domain.windows import WindowService
    from luxxon.domain.workspaces import WorkspaceService


def settings() -> Settings:
    """The settings (luxxon.config, read from the environment once), imported on first use like the rest."""
    from luxxon.config import get_settings

    return get_settings()


@cache
def workspace_store() -> PgWorkspaceStore:
    from luxxon.db.workspaces import PgWorkspaceStore

    return PgWorkspaceStore()


@cache
def video() -> VideoBackend:
    from luxxon.adapters.video import CloudflareStream

    return CloudflareStream.from_settings(settings())


@cache
def frames() -> FrameStore:
    from luxxon.adapters import frames as frame_stores

    s = settings()
    password = None
    if s.frame_store == "redis" and s.redis_auth_secret_arn:
        from luxxon.secrets_manager import read_secret

        password = read_secret(s.redis_auth_secret_arn)
    return frame_stores.from_settings(s.frame_store, s.redis_url, s.frames_bucket, s.frame_ttl_s, password)


@cache
def outbox() -> OutboxService:
    """The outbox as the sweep delivers it: the video client with its full timeout and retries."""
    from luxxon.db.outbox import PgOutboxStore
    from luxxon.domain.outbox import OutboxService
    from luxxon.domain.ports.outbox import LIVE_INPUT_DELETE, SETTLEMENT_REQUEST

    return OutboxService(
        PgOutboxStore(),
        {
            LIVE_INPUT_DELETE: lambda p: video().delete_live_input(p["uid"]),
            SETTLEMENT_REQUEST: lambda p: settlement_queue().send(p["sessionId"]),
        },
    )


@cache
def request_outbox() -> OutboxService:
    """The outbox as a request delivers it right after its commit: one short try, so a slow video backend never
    holds the response; what fails waits for the sweep."""
    from luxxon.db.outbox import PgOutboxStore
    from luxxon.domain.outbox import OutboxService
    from luxxon.domain.ports.outbox import LIVE_INPUT_DELETE, SETTLEMENT_REQUEST

    return OutboxService(
        PgOutboxStore(),
        {
            LIVE_INPUT_DELETE: lambda p: quick_video().delete_live_input(p["uid"]),
            SETTLEMENT_REQUEST: lambda p: settlement_queue().send(p["sessionId"]),
        },
    )


@cache
def settlement_queue() -> SqsSettlementQueue:
    from luxxon.adapters.queue import SqsSettlementQueue

    url = settings().settlement_queue_url
    if not url:
        raise RuntimeError("LX_SETTLEMENT_QUEUE_URL is not set: settlement requests wait in the outbox")
    return SqsSettlementQueue(url)


@cache
def settlement_store() -> PgSettlementStore:
    from luxxon.db.settlements import PgSettlementStore

    return PgSettlementStore()


def chain_rpc_url() -> str:
    """The chain's JSON-RPC URL: from the chain secret {"rpcUrl"} in AWS, else LX_CHAIN_RPC_URL."""
    s = settings()
    if s.chain_secret_arn:
        from luxxon.secrets_manager import read_json_secret

        return str(read_json_secret(s.chain_secret_arn)["rpcUrl"])
    if not s.chain_rpc_url:
        from luxxon.domain.ports.money import ChainUnavailable

        raise ChainUnavailable("LX_CHAIN_RPC_URL (or LX_CHAIN_SECRET_ARN) is not set")
    return s.chain_rpc_url


def settlement_address() -> str:
    address = settings().chain_settlement_address
    if not address:
        from luxxon.domain.ports.money import ChainUnavailable

        raise ChainUnavailable("LX_CHAIN_SETTLEMENT_ADDRESS is not set")
    return address


@cache
def wallet_reader() -> WalletReader:
    from luxxon.adapters.chain_rpc import JsonRpcPool

    s = settings()
    return JsonRpcPool(chain_rpc_url(), settlement_address(), s.chain_timeout_s, s.chain_id)


@cache
def money() -> MoneyViews:
    from luxxon.db.sessions import PgSessionStore
    from luxxon.domain.wallets import MoneyViews

    def wallet_of(workspace_id: str) -> str | None:
        row = workspace_store().get_workspace(workspace_id)
        return None if row is None else row["wallet_address"]

    store = settlement_store()
    return MoneyViews(PgSessionStore(), store, store, wallet_of, wallet_reader, settlement_address)


@cache
def quick_video() -> VideoBackend:
    """The video client a request uses after its commit: one short try."""
    from luxxon.adapters.video import CloudflareStream

    s = settings()
    return CloudflareStream.from_settings(s, timeout_s=s.teardown_inline_timeout_s, retries=0)


@cache
def sessions() -> SessionService:
    from luxxon.db.sessions import PgSessionStore
    from luxxon.domain.sessions import SessionService

    return SessionService(
        PgSessionStore(),
        settings(),
        video=video,
        outbox=request_outbox,
        frames=frames,
        idempotency=idempotency(),
        pricing=pricing(),
        chain=wallet_reader,
    )


@cache
def pricing() -> PricingService:
    from luxxon.db.pricing import PgPricingStore
    from luxxon.domain.pricing import PricingService

    return PricingService(PgPricingStore(), settings(), idempotency())


@cache
def idempotency() -> Idempotency:
    from luxxon.db.idempotency import PgIdempotencyStore
    from luxxon.domain.idempotency import KEEP_S, Idempotency

    return Idempotency(PgIdempotencyStore(KEEP_S))


@cache
def sweep() -> Sweep:
    from luxxon.db.webhooks import PgEdgeEventStore
    from luxxon.domain.sweep import Sweep

    return Sweep(
        sessions(),
        outbox(),
        leases(),
        idempotency(),
        PgEdgeEventStore(),
        settlement_store(),
        settlement_stall_after_s=settings().settlement_stall_after_s,
    )


@cache
def workspaces() -> WorkspaceService:
    from luxxon.domain.workspaces import WorkspaceService

    return WorkspaceService(workspace_store(), idempotency())


@cache
def windows() -> WindowService:
    """Disconnect windows from the video plane: the edge's events (webhooks) and the decoder's media gaps."""
    from luxxon.db.sessions import PgSessionStore
    from luxxon.db.webhooks import PgEdgeEventStore
    from luxxon.domain.windows import WindowService

    return WindowService(PgSessionStore(), PgEdgeEventStore())


@cache
def webhooks() -> WebhookService:
    from luxxon.adapters.video import CloudflareWebhooks
    from luxxon.domain.webhooks import WebhookService

    return WebhookService(CloudflareWebhooks(webhook_secret), windows())


@cache
def leases() -> PgLeaseStore:
    from luxxon.db.decoder import PgLeaseStore

    return PgLeaseStore()


def webhook_secret() -> str:
    s = settings()
    if s.stream_webhook_secret_arn:
        from luxxon.secrets_manager import read_secret

        return read_secret(s.stream_webhook_secret_arn)
    if not s.stream_webhook_secret:
        raise RuntimeError("LX_STREAM_WEBHOOK_SECRET (or LX_STREAM_WEBHOOK_SECRET_ARN) is not set")
    return s.stream_webhook_secret.get_secret_value()


CONSISTENCY_KEY_MAX_AGE_S = 3_600  # a rotated key is picked up within the hour (a write's first token reads it)


def consistency_key() -> str:
    """The key that seals consistency tokens (luxxon.api.consistency): one per deployment, so a token opens wherever
    that deployment serves a read. From Secrets Manager in AWS (generated with the stack), from the environment locally
    (`make run` makes one per run). Without either: a random key for this process, with a warning (tokens stay opaque,
    but another process cannot open them, nor replay the same token for an Idempotency-Key)."""
    s = settings()
    if s.consistency_token_key_arn:
        from luxxon.secrets_manager import read_secret

        try:
            key = read_secret(s.consistency_token_key_arn, max_age_s=CONSISTENCY_KEY_MAX_AGE_S)
        except Exception:
            if not _LAST_SECRET_KEY:
                raise
            from luxxon.observability import logger

            logger.warning("consistency-token key refresh failed: sealing with the last key read", exc_info=True)
            return _LAST_SECRET_KEY[0]
        _LAST_SECRET_KEY[:] = [key]
        return key
    if s.consistency_token_key:
        return s.consistency_token_key.get_secret_value()
    return _process_consistency_key()


_LAST_SECRET_KEY: list[str] = []  # the last key read from Secrets Manager: a failed hourly refresh keeps sealing
_PROCESS_KEY: list[str] = []  # not a cached builder: `reset` keeps it, so this process's tokens keep opening


def _process_consistency_key() -> str:
    if not _PROCESS_KEY:
        import secrets

        from luxxon.observability import logger

        logger.warning("LX_CONSISTENCY_TOKEN_KEY is not set: consistency tokens are sealed with this process's own key")
        _PROCESS_KEY.append(secrets.token_urlsafe(32))
    return _PROCESS_KEY[0]


def reset() -> None:
    """Forget every service and client built so far (tests that change settings; a SnapStart restore)."""
    # A snapshot: a client dropped here may warn as it goes (an unclosed kept-alive socket), and a warning adds
    # `__warningregistry__` to this module's globals.
    for built in [value for value in globals().values() if callable(value) and hasattr(value, "cache_clear")]:
        built.cache_clear()
