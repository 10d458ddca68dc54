"""The local gateway over real HTTP, with worker processes as Lambda execution environments."""

from __future__ import annotations

import json
import os
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from luxxon.local.gateway import Gateway, serve
from tests.conftest import WEBHOOK_SECRET, RunningEdge

Http = Callable[..., tuple[int, dict[str, Any], dict[str, str]]]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def gateway(database_url: str, edge: RunningEdge) -> Iterator[str]:
    """The gateway, its workers configured like `make run` configures them (video backend = the local edge)."""
    video = {
        "LX_CLOUDFLARE_API_BASE": edge.api_base,
        "LX_CLOUDFLARE_ACCOUNT_ID": "local",
        "LX_CLOUDFLARE_API_TOKEN": edge.token,
        "LX_STREAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    saved = {name: os.environ.get(name) for name in video}
    os.environ.update(video)  # spawned workers inherit the environment
    server: Gateway = serve("127.0.0.1", _free_port(), workers=16)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def request(
    base: str, method: str, path: str, key: str | None = None, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any], dict[str, str]]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers or {})
    req.add_header("content-type", "application/json")
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            raw, status, out = resp.read(), resp.status, dict(resp.headers)
    except urllib.error.HTTPError as err:
        raw, status, out = err.read(), err.code, dict(err.headers)
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        parsed = {"raw": raw.decode()}
    return status, parsed, {k.lower(): v for k, v in out.items()}


@pytest.fixture
def http(gateway: str) -> Http:
    def call(method: str, path: str, key: str | None = None, body: Any = None, **kw: Any) -> Any:
        return request(gateway, method, path, key, body, **kw)

    return call
