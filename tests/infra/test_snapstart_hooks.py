"""luxxon.api.snapstart: the runtime hooks the API handlers register for Lambda SnapStart.

`snapshot_restore_py` exists only in Lambda's Python runtimes: here a fake module records what is registered.
"""

from __future__ import annotations

import ast
import functools
import random
import socket
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from luxxon.api import snapstart
from luxxon.routes import DATABASE, FRAMES, ROUTES, VIDEO, Route, route_for


class FakeRuntimeHooks(types.ModuleType):
    """Stands in for `snapshot_restore_py`: its two registration functions, recording what they get."""

    def __init__(self) -> None:
        super().__init__(snapstart.HOOKS_MODULE)
        self.before: list[Callable[[], Any]] = []
        self.after: list[Callable[[], Any]] = []

    def register_before_snapshot(self, func: Callable[[], Any]) -> None:
        self.before.append(func)

    def register_after_restore(self, func: Callable[[], Any]) -> None:
        self.after.append(func)


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch) -> FakeRuntimeHooks:
    fake = FakeRuntimeHooks()
    monkeypatch.setitem(sys.modules, snapstart.HOOKS_MODULE, fake)
    monkeypatch.setattr(snapstart, "_hooks", snapstart._Hooks())
    return fake


@pytest.fixture
def in_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(snapstart.IN_LAMBDA, "luxxon-dev-SessionsStart")


def _video_route() -> Route:
    return next(route for route in ROUTES if VIDEO in route.needs)


def test_register_outside_lambda_does_nothing(hooks: FakeRuntimeHooks, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(snapstart.IN_LAMBDA, raising=False)
    assert snapstart.register(_video_route()) is False
    assert hooks.before == hooks.after == []


@pytest.mark.usefixtures("in_lambda")
def test_register_without_the_runtime_hooks_module_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, snapstart.HOOKS_MODULE, None)  # import raises ImportError
    monkeypatch.setattr(snapstart, "_hooks", snapstart._Hooks())
    assert snapstart.register(_video_route()) is False


@pytest.mark.usefixtures("in_lambda")
def test_register_in_lambda_registers_one_before_snapshot_and_one_after_restore_hook(hooks: FakeRuntimeHooks) -> None:
    # When a handler (or, for the docs, every handler) registers its route
    assert snapstart.register(_video_route()) is True
    assert snapstart.register(route_for("functions.sessions.frame")) is True
    # Then each hook is registered once, for the union of the routes' needs
    assert hooks.before == [snapstart.before_snapshot]
    assert hooks.after == [snapstart.after_restore]
    assert snapstart._hooks.needs == {DATABASE, VIDEO, FRAMES}


def test_modules_to_warm_follow_the_route_needs() -> None:
    health = snapstart.modules_to_warm(route_for("functions.health.get").needs)
    assert health == list(snapstart.ALWAYS)  # json, psycopg, the models: nothing of the video or frames planes
    start = snapstart.modules_to_warm(route_for("functions.sessions.start").needs)
    assert "luxxon.adapters.video" in start and "luxxon.db.connection" in start
    assert "luxxon.adapters.frames" not in start
    frame = snapstart.modules_to_warm(route_for("functions.sessions.frame").needs, frame_store="s3")
    assert "luxxon.adapters.frames" in frame and "boto3" in frame and "redis" not in frame
    assert "redis" in snapstart.modules_to_warm({FRAMES}, frame_store="redis")


class Opened(AssertionError):
    pass


@pytest.mark.usefixtures("in_lambda")
def test_before_snapshot_imports_the_video_adapter_for_a_video_route_and_opens_nothing(
    hooks: FakeRuntimeHooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a VIDEO route registered in Lambda, the video adapter not loaded yet, and every way out refused
    import luxxon.adapters

    monkeypatch.delitem(sys.modules, "luxxon.adapters.video", raising=False)
    monkeypatch.delattr(luxxon.adapters, "video", raising=False)
    attempts: list[str] = []

    def refuse(what: str) -> Callable[..., Any]:
        def refused(*args: Any, **kwargs: Any) -> Any:
            attempts.append(what)
            raise Opened(what)

        return refused

    monkeypatch.setattr(socket.socket, "connect", refuse("socket.connect"))
    monkeypatch.setattr(socket, "create_connection", refuse("socket.create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("dns"))
    import psycopg
    from aws_lambda_powertools.utilities import parameters

    monkeypatch.setattr(psycopg, "connect", refuse("psycopg.connect"))
    monkeypatch.setattr(parameters, "get_secret", refuse("get_secret"))
    snapstart.register(_video_route())
    random.seed(7)
    state = random.getstate()
    # When Lambda runs the before-snapshot hook
    (before,) = hooks.before
    before()
    # Then the adapter is in memory, and nothing was opened, read or drawn
    assert "luxxon.adapters.video" in sys.modules
    assert attempts == []
    assert random.getstate() == state


def test_after_restore_reseeds_random_per_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given two sandboxes resumed from one snapshot (the same generator state)
    random.seed(7)
    snapshot = random.getstate()
    snapstart.after_restore()
    first = random.random()
    random.setstate(snapshot)
    snapstart.after_restore()
    second = random.random()
    # Then they draw different numbers
    assert first != second


def test_after_restore_drops_the_connection_and_the_cached_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a process connection and a cached client built before the snapshot (a handler that did so at import)
    resets: list[str] = []
    connection = types.ModuleType("luxxon.db.connection")
    connection.reset = lambda: resets.append("connection")  # type: ignore[attr-defined]
    wiring = types.ModuleType("luxxon.wiring")
    client = functools.cache(object)
    wiring.video = client  # type: ignore[attr-defined]
    client()
    monkeypatch.setitem(sys.modules, "luxxon.db.connection", connection)
    monkeypatch.setitem(sys.modules, "luxxon.wiring", wiring)
    # When the sandbox is restored
    snapstart.after_restore()
    # Then the next use opens its own
    assert resets == ["connection"]
    assert client.cache_info().currsize == 0


def test_importing_the_module_costs_only_the_standard_library() -> None:
    tree = ast.parse(Path(snapstart.__file__).read_text())
    imported = set()
    for node in tree.body:  # module level only (TYPE_CHECKING blocks and function bodies are not run on import)
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported and imported <= sys.stdlib_module_names
