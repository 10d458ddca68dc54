"""The composition root: domain services wired to their stores and adapters, built once per process.

Adapters (video backend, frame store, secrets) are built on first use, so a handler that never touches them
never imports their clients.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from luxxon.config import get_settings
from luxxon.db.identity import PgIdentityStore
from luxxon.db.outbox import PgOutboxStore
from luxxon.db.sessions import PgSessionStore
from luxxon.domain.outbox import LIVE_INPUT_DELETE, OutboxService
from luxxon.domain.sessions import SessionService

if TYPE_CHECKING:
    from luxxon.adapters.frames import FrameStore
    from luxxon.adapters.video import VideoBackend
    from luxxon.domain.webhooks import WebhookService
    from luxxon.domain.workspaces import WorkspaceService


@cache
def identity_store() -> PgIdentityStore:
    return PgIdentityStore()


@cache
def video() -> VideoBackend:
    from luxxon.adapters.video import CloudflareStream

    return CloudflareStream.from_settings()


@cache
def frames() -> FrameStore:
    from luxxon.adapters import frames as frame_stores

    s = get_settings()
    password = None
    if s.frame_store == "redis" and s.redis_auth_secret_arn:
        from aws_lambda_powertools.utilities import parameters

        password = str(parameters.get_secret(s.redis_auth_secret_arn, max_age=300))
    return frame_stores.from_settings(s.frame_store, s.redis_url, s.frames_bucket, s.frame_ttl_s, password)


@cache
def outbox() -> OutboxService:
    return OutboxService(PgOutboxStore(), {LIVE_INPUT_DELETE: lambda p: video().delete_live_input(p["uid"])})


@cache
def sessions() -> SessionService:
    return SessionService(PgSessionStore(), get_settings(), video=video, outbox=outbox, frames=frames)


@cache
def workspaces() -> WorkspaceService:
    from luxxon.domain.workspaces import WorkspaceService

    return WorkspaceService(identity_store())


@cache
def webhooks() -> WebhookService:
    from luxxon.db.webhooks import PgReceiptStore
    from luxxon.domain.webhooks import WebhookService

    s = get_settings()
    return WebhookService(PgReceiptStore(), sessions(), webhook_secret, s.webhook_tolerance_s)


def webhook_secret() -> str:
    s = get_settings()
    if s.stream_webhook_secret_arn:
        from aws_lambda_powertools.utilities import parameters

        return str(parameters.get_secret(s.stream_webhook_secret_arn, max_age=300))
    if not s.stream_webhook_secret:
        raise RuntimeError("LX_STREAM_WEBHOOK_SECRET (or LX_STREAM_WEBHOOK_SECRET_ARN) is not set")
    return s.stream_webhook_secret.get_secret_value()
