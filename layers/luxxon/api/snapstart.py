"""Lambda SnapStart runtime hooks for an API handler.

With SnapStart, Lambda runs a function's initialization once, when a version is published, snapshots the memory and
disk of that execution environment, and resumes every new sandbox of the version from the snapshot. So:

- before the snapshot we import what the handler would otherwise load on its first request (the services and
  stores the composition root builds on first use, the video adapter for routes that touch Cloudflare Stream, the
  frame store client modules for the frame route, the secret reader, psycopg) and finish building the pydantic
  models, so a resumed sandbox starts with them in memory. Nothing here opens a connection, reads a secret or draws
  random numbers: everything in the snapshot is shared by every sandbox resumed from it;
- after a restore we re-seed `random` (its state came from the snapshot, identical in every sandbox) and drop what
  must be unique per sandbox if anything built it during initialization: the process database connection, the
  composition root's cached clients, Powertools' cached secret values.

`register(route)` is called by `luxxon.api.http.endpoint` for the handler's route. It does nothing outside Lambda
(locally, in tests) or where the runtime has no `snapshot_restore_py` (shipped in Lambda's Python 3.12+ managed
runtimes). Importing this module costs only the standard library.
"""

from __future__ import annotations

import importlib
import logging
import os
import random
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from luxxon.routes import Route

HOOKS_MODULE = "snapshot_restore_py"  # Lambda's runtime hooks library (register_before_snapshot/register_after_restore)
IN_LAMBDA = "AWS_LAMBDA_FUNCTION_NAME"  # set by the Lambda runtime in every execution environment

# What the handlers load lazily. Module names only: a missing module (renamed, or a client not in the layer) is
# skipped, never fatal.
ALWAYS: tuple[str, ...] = ("json", "psycopg", "luxxon.models")
SECRETS: tuple[str, ...] = ("luxxon.secrets_manager", "aws_lambda_powertools.utilities.parameters")
# The composition root builds services on first use (luxxon.wiring): a route that reaches the database loads them on
# its first request, so the snapshot loads them all (each is a few ms, none opens anything).
SERVICES: tuple[str, ...] = (
    "luxxon.config",
    "luxxon.db.workspaces",
    "luxxon.db.sessions",
    "luxxon.db.outbox",
    "luxxon.db.idempotency",
    "luxxon.db.pricing",
    "luxxon.domain.sessions",
    "luxxon.domain.outbox",
    "luxxon.domain.idempotency",
    "luxxon.domain.workspaces",
    "luxxon.domain.pricing",
)
FRAME_CLIENTS: dict[str, tuple[str, ...]] = {"s3": ("boto3", "botocore.client"), "redis": ("redis",)}

_log = logging.getLogger(__name__)


class _Hooks:
    """The needs of every route registered in this process (one, except where a handler imports others)."""

    def __init__(self) -> None:
        self.needs: set[str] = set()
        self.registered = False


_hooks = _Hooks()


def register(route: Route) -> bool:
    """Register the SnapStart hooks for `route` when running in Lambda; True when they are registered."""
    if IN_LAMBDA not in os.environ:
        return False
    try:
        runtime_hooks = importlib.import_module(HOOKS_MODULE)
    except ImportError:
        return False
    _hooks.needs |= route.needs
    if not _hooks.registered:
        runtime_hooks.register_before_snapshot(before_snapshot)
        runtime_hooks.register_after_restore(after_restore)
        _hooks.registered = True
    return True


def _by_need() -> dict[str, tuple[str, ...]]:
    """The modules each need of a route row (luxxon.routes) loads on first use."""
    from luxxon.routes import CHAIN, DATABASE, FRAMES, SETTLEMENT, VIDEO, WEBHOOK_SECRET

    return {
        DATABASE: ("luxxon.db.connection", *SERVICES, *SECRETS),
        VIDEO: ("luxxon.adapters.video", "urllib.request", *SECRETS),
        WEBHOOK_SECRET: ("luxxon.adapters.video", "luxxon.db.webhooks", "luxxon.domain.webhooks", "hmac", *SECRETS),
        FRAMES: ("luxxon.adapters.frames",),
        CHAIN: (
            "luxxon.adapters.chain_rpc",
            "luxxon.db.settlements",
            "luxxon.domain.wallets",
            "urllib.request",
            *SECRETS,
        ),
        SETTLEMENT: ("luxxon.adapters.queue", "boto3"),
    }


def modules_to_warm(needs: Iterable[str], frame_store: str | None = None) -> list[str]:
    """The modules to import before the snapshot for these needs (in order, once each). `frame_store` is the
    configured kind (LX_FRAME_STORE): only its client is loaded, or both when it is unknown."""
    from luxxon.routes import FRAMES

    by_need = _by_need()
    names = list(ALWAYS)
    for need in sorted(needs):
        names += by_need.get(need, ())
        if need == FRAMES:
            kinds = [frame_store] if frame_store in FRAME_CLIENTS else list(FRAME_CLIENTS)
            names += [name for kind in kinds for name in FRAME_CLIENTS[kind]]
    return list(dict.fromkeys(names))


def before_snapshot() -> None:
    """Load what the registered routes use lazily; open nothing, read nothing secret, draw nothing random."""
    for name in modules_to_warm(_hooks.needs, os.environ.get("LX_FRAME_STORE")):
        try:
            importlib.import_module(name)
        except ImportError:
            _log.info("snapstart: %s is not installed; not warmed", name)
    _complete_models()


def _complete_models() -> None:
    """Finish every luxxon pydantic model whose schema waits for a forward reference (imports only, no I/O)."""
    from pydantic import BaseModel

    package = sys.modules.get("luxxon.models")
    if package is not None:
        import pkgutil

        for info in pkgutil.iter_modules(package.__path__, "luxxon.models."):
            importlib.import_module(info.name)
    for module_name, module in list(sys.modules.items()):
        if not module_name.startswith("luxxon.models"):
            continue
        for value in list(vars(module).values()):
            if (
                isinstance(value, type)
                and issubclass(value, BaseModel)
                and value.__module__ == module_name
                and not value.__pydantic_complete__
            ):
                value.model_rebuild(raise_errors=False)


def after_restore() -> None:
    """Make this sandbox's state its own: a fresh random seed, no connection or client carried in the snapshot."""
    random.seed()  # from os.urandom: the snapshot's generator state is the same in every sandbox
    for forget in _per_sandbox_resets():
        try:
            forget()
        except Exception:  # a stale socket may fail to close; the next use reconnects either way
            _log.warning("snapstart: %s failed after restore", getattr(forget, "__qualname__", forget), exc_info=True)


def _per_sandbox_resets() -> list[Callable[[], object]]:
    """Resets of state that must be unique per sandbox, for the modules already loaded (nothing new is imported)."""
    resets: list[Callable[[], object]] = []
    connection = sys.modules.get("luxxon.db.connection")
    if connection is not None and hasattr(connection, "reset"):
        resets.append(connection.reset)
    wiring = sys.modules.get("luxxon.wiring")
    if wiring is not None:
        resets += [value.cache_clear for value in vars(wiring).values() if hasattr(value, "cache_clear")]
    parameters = sys.modules.get("aws_lambda_powertools.utilities.parameters")
    if parameters is not None and hasattr(parameters, "clear_caches"):
        resets.append(parameters.clear_caches)
    return resets
