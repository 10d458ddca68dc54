"""A local API Gateway: HTTP requests become REST proxy events for the same handler modules, from the same table.

Each worker process is one "execution environment": it imports handler modules on first use and keeps them warm,
runs one invocation at a time and holds its own database connection, as a Lambda sandbox does. Concurrent requests
run in different workers, so races between requests are real races against the database.
"""

from __future__ import annotations

import base64
import multiprocessing
import re
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import import_module
from typing import Any
from urllib.parse import parse_qs, urlsplit

from luxxon.api.http import error_body
from luxxon.errors import ERRORS, ErrorCode
from luxxon.routes import ROUTES, Route


@dataclass(frozen=True)
class LambdaContext:
    function_name: str
    aws_request_id: str
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:local:000000000000:function:local"
    function_version: str = "$LATEST"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 29_000


def invoke(module: str, event: dict[str, Any]) -> dict[str, Any]:
    """Runs inside a worker: the Lambda runtime's job (import once, then call the handler)."""
    handler = import_module(module).lambda_handler
    context = LambdaContext(function_name=module, aws_request_id=event["requestContext"]["requestId"])
    return handler(event, context)


def invoke_scheduled(module: str) -> Any:
    """Runs inside a worker: an EventBridge scheduled event for a non-HTTP Lambda (the sweep)."""
    handler = import_module(module).lambda_handler
    request_id = str(uuid.uuid4())
    event = {"version": "0", "id": request_id, "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}
    return handler(event, LambdaContext(function_name=module, aws_request_id=request_id))


def _compile(route: Route) -> re.Pattern[str]:
    pattern = re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(route.path))
    return re.compile(f"^{pattern}$")


# Literal paths win over templated ones, as in API Gateway (/sessions/inbox before /sessions/{id}).
_TABLE = sorted(((r, _compile(r)) for r in ROUTES), key=lambda item: item[0].path.count("{"))


def match(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    for route, pattern in _TABLE:
        if route.method == method and (found := pattern.match(path)):
            return route, found.groupdict()
    return None


def build_event(
    route: Route, method: str, path: str, params: dict[str, str], query: str, headers: dict[str, str], body: bytes
) -> dict[str, Any]:
    multi_query = parse_qs(query, keep_blank_values=True)
    try:
        text: str | None = body.decode() if body else None
        is_b64 = False
    except UnicodeDecodeError:
        text, is_b64 = base64.b64encode(body).decode(), True
    request_id = str(uuid.uuid4())
    return {
        "resource": route.path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": params or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": route.path,
            "httpMethod": method,
            "path": path,
            "stage": "local",
            "requestId": request_id,
            "requestTimeEpoch": int(time.time() * 1000),
            "accountId": "000000000000",
            "apiId": "local",
            "protocol": "HTTP/1.1",
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": text,
        "isBase64Encoded": is_b64,
    }


class Gateway(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], workers: int) -> None:
        super().__init__(address, _Handler)
        self._workers = workers
        self._pool_lock = threading.Lock()
        self.pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self._workers, mp_context=multiprocessing.get_context("spawn"))

    def run(self, fn: Callable[..., Any], *args: Any, timeout: float = 30) -> Any:
        """Invoke in a worker. A worker that died (as a sandbox can) takes the pool down: start a fresh one."""
        pool = self.pool
        try:
            return pool.submit(fn, *args).result(timeout=timeout)
        except BrokenProcessPool:
            with self._pool_lock:
                if self.pool is pool:
                    self.pool = self._new_pool()
            raise

    def server_close(self) -> None:
        super().server_close()
        self.pool.shutdown(cancel_futures=True)


class _Handler(BaseHTTPRequestHandler):
    server: Gateway
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's signature
        pass

    def _serve(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        found = match(self.command, url.path)
        if found is None:
            # API Gateway's own "missing route" answer, in the API's error envelope (as the stack configures it).
            status = ERRORS[ErrorCode.ROUTE_NOT_FOUND][0]
            self._reply(
                status, {"Content-Type": "application/json"}, error_body(ErrorCode.ROUTE_NOT_FOUND, None).encode()
            )
            return
        route, params = found
        headers = dict(self.headers.items())
        event = build_event(route, self.command, url.path, params, url.query, headers, body)
        try:
            result = self.server.run(invoke, route.module, event)
        except Exception:  # a crashed or timed-out invocation is API Gateway's 502 in the envelope
            self._reply(
                502,
                {"Content-Type": "application/json"},
                error_body(ErrorCode.INTERNAL_ERROR, "gateway:invocationFailed").encode(),
            )
            return
        payload = result.get("body") or ""
        raw = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
        out_headers = dict(result.get("headers") or {})
        for name, values in (result.get("multiValueHeaders") or {}).items():
            out_headers[name] = ", ".join(values)
        self._reply(int(result["statusCode"]), out_headers, raw)

    def _error(self, code: ErrorCode, detail: str, status: int | None = None) -> None:
        body = error_body(code, detail).encode()
        self._reply(status or ERRORS[code][0], {"Content-Type": "application/json"}, body)

    def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve


def serve(host: str, port: int, workers: int) -> Gateway:
    return Gateway((host, port), workers)
