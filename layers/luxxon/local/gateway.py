"""A local API Gateway: HTTP requests become REST proxy events for the same handler modules, from the same table.

Each worker process is one "execution environment": it imports handler modules on first use and keeps them warm,
runs one invocation at a time and holds its own database connection, as a Lambda sandbox does. Concurrent requests
run in different workers, so races between requests are real races against the database.

It answers what the deployed API Gateway answers (luxxon.api.gateway_errors, the table the stack's gateway
responses and MOCK methods are built from): a path no route declares is MISSING_AUTHENTICATION_TOKEN (404
ROUTE_NOT_FOUND); on a declared path, HEAD is the GET row's handler (invoked with `httpMethod: HEAD`, its body not
sent), OPTIONS is 204 and any other method the path does not declare is 405 METHOD_NOT_ALLOWED, both with `Allow`; a
payload over 10 MB is REQUEST_TOO_LARGE, a request it cannot parse is DEFAULT_4XX, a crashed or timed-out invocation
is INTEGRATION_FAILURE / INTEGRATION_TIMEOUT, each in the error envelope. Request bodies reach the handler
base64-encoded (`isBase64Encoded: true`), as the deployed API's `binaryMediaTypes: */*` makes them.

Before all of that, as the stage's WAF web ACL does, each client address gets at most the edge limit's requests in
any window (luxxon.api.edge_limit; `LX_EDGE_LIMIT`, by default what prod allows): over it, every request (whatever its
path, method or key) is the WAF_FILTERED gateway response, 429 THROTTLED `rate:client` with Retry-After.
"""

from __future__ import annotations

import base64
import multiprocessing
import os
import re
import signal
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as InvocationTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import import_module
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from typing import Any
from urllib.parse import parse_qs, urlsplit

from luxxon.api import edge_limit
from luxxon.api.edge_limit import EdgeLimit
from luxxon.api.gateway_errors import (
    ALLOW,
    EDGE_REFUSAL,
    GATEWAY_ERRORS,
    MAX_PAYLOAD_BYTES,
    METHOD_NOT_ALLOWED,
    OPTIONS_STATUS,
    GatewayError,
)
from luxxon.routes import JSON, RESOURCES, ROUTES, Route, allow_header

INVOCATION_TIMEOUT_S = 29.0  # API Gateway's integration timeout
LISTEN_BACKLOG = 1024  # the standard library's 5 drops SYNs under a few dozen concurrent clients (1 s retransmits)
WORKER_GRACE_S = 2.0  # once the gateway closes, how long an invocation under way may run on before its worker is ended
LOCAL_ADDRESS = "127.0.0.1"


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


def _configure(env: dict[str, str]) -> None:
    """Runs once in each new worker: the function's environment variables. A worker ignores Ctrl-C (the terminal
    sends it to the whole process group): the gateway that started it ends it (`Gateway.server_close`), after the
    invocation under way, instead of each worker dying mid-invocation with a KeyboardInterrupt."""
    os.environ.update(env)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def invoke(module: str, event: dict[str, Any]) -> dict[str, Any]:
    """Runs inside a worker: the Lambda runtime's job (import once, then call the handler). An API Gateway event
    carries its request id; another (an SQS batch) gets a fresh one."""
    handler = import_module(module).lambda_handler
    request_id = event.get("requestContext", {}).get("requestId") or str(uuid.uuid4())
    context = LambdaContext(function_name=module, aws_request_id=request_id)
    return handler(event, context)


def invoke_scheduled(module: str) -> Any:
    """Runs inside a worker: an EventBridge scheduled event for a non-HTTP Lambda (the sweep)."""
    handler = import_module(module).lambda_handler
    request_id = str(uuid.uuid4())
    event = {"version": "0", "id": request_id, "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}
    return handler(event, LambdaContext(function_name=module, aws_request_id=request_id))


@dataclass(frozen=True)
class Resource:
    """A path of the route table, as an API Gateway resource: its rows by method, and its `Allow` header."""

    path: str
    pattern: re.Pattern[str]
    routes: dict[str, Route]
    allow: str


def _compile(path: str) -> re.Pattern[str]:
    pattern = re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(path))
    return re.compile(f"^{pattern}$")


# Literal paths win over templated ones, as in API Gateway (/sessions/inbox before /sessions/{id}), whatever the
# method: API Gateway picks the resource first, then its method (DELETE /sessions/inbox is 405, not a cancel).
_RESOURCES = sorted(
    (
        Resource(path, _compile(path), {r.method: r for r in ROUTES if r.path == path}, allow_header(path))
        for path in RESOURCES
    ),
    key=lambda resource: resource.path.count("{"),
)


def resource_for(path: str) -> tuple[Resource, dict[str, str]] | None:
    """The resource a request path addresses and its path parameters, or None (no route declares the path)."""
    for resource in _RESOURCES:
        if found := resource.pattern.match(path):
            return resource, found.groupdict()
    return None


def match(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The row whose handler serves `method path` (HEAD: the GET row's), with its path parameters, or None."""
    found = resource_for(path)
    if found is None:
        return None
    resource, params = found
    route = resource.routes.get("GET" if method == "HEAD" else method)
    return (route, params) if route is not None else None


def build_event(
    route: Route,
    method: str,
    path: str,
    params: dict[str, str],
    query: str,
    headers: dict[str, str],
    body: bytes,
    multi_headers: dict[str, list[str]] | None = None,
    source_ip: str = LOCAL_ADDRESS,
) -> dict[str, Any]:
    """The REST proxy event API Gateway sends: with `binaryMediaTypes: */*` every body arrives base64-encoded."""
    multi_query = parse_qs(query, keep_blank_values=True)
    request_id = str(uuid.uuid4())
    stage = "local"
    return {
        "resource": route.path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": multi_headers or {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": params or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": route.name,
            "resourcePath": route.path,
            "httpMethod": method,
            "path": f"/{stage}{path}",  # as the client called it: the stage first (`path` above is without it)
            "stage": stage,
            "requestId": request_id,
            "requestTime": clf_time(),
            "requestTimeEpoch": int(time.time() * 1000),
            "accountId": "000000000000",
            "apiId": "local",
            "protocol": "HTTP/1.1",
            "identity": {"sourceIp": source_ip},
        },
        "body": base64.b64encode(body).decode() if body else None,
        "isBase64Encoded": bool(body),
    }


def clf_time() -> str:
    """`$context.requestTime`: what the deployed gateway responses put in `timestamp`."""
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())


def gateway_error_body(error: GatewayError) -> bytes:
    """A deployed gateway response's body: its template with `$context.requestTime` filled in."""
    return error.template().replace("$context.requestTime", clf_time()).encode()


class AddressLimit:
    """The edge limit, counted per client address as the WAF rate-based rule counts: a request is refused when the
    address already sent `requests` requests in the last `window_s` seconds, refused ones included. So at most
    `requests` are served in any window; a client that keeps sending stays refused; one that sends nothing for
    `window_s` is served again. Each address keeps only its last `requests` times (enough to decide), and addresses
    silent for a window are forgotten."""

    FORGET_AT = 10_000  # addresses remembered before the silent ones are dropped

    def __init__(self, limit: EdgeLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._recent: dict[str, deque[float]] = {}  # address -> its last `requests` request times

    def admit(self, address: str) -> bool:
        """Count a request from `address`; False when it is over the limit (and must be refused)."""
        now = self._clock()
        window = self.limit.window_s
        with self._lock:
            recent = self._recent.get(address)
            if recent is None:
                if len(self._recent) >= self.FORGET_AT:
                    self._recent = {a: times for a, times in self._recent.items() if now - times[-1] < window}
                recent = self._recent[address] = deque(maxlen=self.limit.requests)
            over = len(recent) == recent.maxlen and now - recent[0] < window
            recent.append(now)
            return not over


class Gateway(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, address: tuple[str, int], workers: int, env: dict[str, str] | None = None) -> None:
        super().__init__(address, _Handler)
        self._workers = workers
        self._env = dict(env or {})  # the functions' environment variables, on top of this process's
        # The stage's edge limit: LX_EDGE_LIMIT from `env` or this process's environment (unset: prod's; "off": none).
        limit = edge_limit.configured(self._env.get(edge_limit.ENV, os.environ.get(edge_limit.ENV)))
        self.edge_limit = AddressLimit(limit) if limit is not None else None
        self._pool_lock = threading.Lock()
        self._closed = False
        self.pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self._workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_configure,
            initargs=(self._env,),
        )

    def run(self, fn: Callable[..., Any], *args: Any, timeout: float = INVOCATION_TIMEOUT_S) -> Any:
        """Invoke in a worker. A worker that died (as a sandbox can) takes the pool down: start a fresh one, unless
        the gateway is closing (then its workers were ended on purpose; after `server_close` every call raises)."""
        pool = self.pool
        try:
            return pool.submit(fn, *args).result(timeout=timeout)
        except BrokenProcessPool:
            with self._pool_lock:
                if self.pool is pool and not self._closed:
                    self.pool = self._new_pool()
            raise

    def server_close(self) -> None:
        """Stop accepting, then end the workers: pending invocations are cancelled, those under way have
        WORKER_GRACE_S to finish, then their workers are terminated (killed 1 s later). Returns once every worker has
        exited; the pool is never rebuilt after this."""
        super().server_close()
        with self._pool_lock:
            self._closed = True
            pool = self.pool
        # The pool's own processes: ProcessPoolExecutor has no public way to end them before Python 3.14
        # (terminate_workers), and its manager thread reaps them, so exits are read off their sentinels below.
        workers = set((pool._processes or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        # A submit that raced the copy above may have started one more worker; none can start after the shutdown.
        workers |= set((pool._processes or {}).values())
        _end(list(workers), WORKER_GRACE_S)


def _end(workers: list[BaseProcess], grace_s: float) -> None:
    """Wait up to `grace_s` for the workers to exit, then terminate what is left, then kill it."""
    running = {worker.sentinel: worker for worker in workers}
    for end, wait_s in ((None, grace_s), (BaseProcess.terminate, 1.0), (BaseProcess.kill, 1.0)):
        if end is not None:
            for worker in running.values():
                end(worker)
        deadline = time.monotonic() + wait_s
        while running and (left := deadline - time.monotonic()) > 0:
            for sentinel in wait(list(running), left):
                del running[sentinel]  # type: ignore[arg-type]
        if not running:
            return


# The gateway response that answers what http.server itself refuses (a status it would send as an HTML page).
_REFUSALS = {
    404: "MISSING_AUTHENTICATION_TOKEN",
    413: "REQUEST_TOO_LARGE",
    414: "REQUEST_TOO_LARGE",
    431: "REQUEST_TOO_LARGE",
    501: "MISSING_AUTHENTICATION_TOKEN",
}


class _Handler(BaseHTTPRequestHandler):
    server: Gateway
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's signature
        pass

    def __getattr__(self, name: str) -> Any:
        """`do_<METHOD>` for every method (TRACE, PROPFIND...): one a path does not declare is that path's 405."""
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """What http.server refuses (a malformed request line, over-long headers...): a gateway response."""
        name = _REFUSALS.get(code) or ("DEFAULT_5XX" if code >= 500 else "DEFAULT_4XX")
        self.close_connection = True
        self.request_version = self.protocol_version  # never an HTTP/0.9 answer (a bare body without a status)
        self._gateway_error(GATEWAY_ERRORS[name])

    def _serve(self) -> None:
        address = self.client_address[0]
        if self.server.edge_limit is not None and not self.server.edge_limit.admit(address):
            self._refuse_at_the_edge(self.server.edge_limit.limit)
            return
        url = urlsplit(self.path)
        body = self._body()
        if body is None:
            return
        found = resource_for(url.path)
        if found is None:
            self._gateway_error(GATEWAY_ERRORS["MISSING_AUTHENTICATION_TOKEN"])
            return
        resource, params = found
        route = (
            None
            if self.command == "OPTIONS"
            else resource.routes.get("GET" if self.command == "HEAD" else self.command)
        )
        if route is None:  # the resource's ANY method, a MOCK in the stack: OPTIONS or a method it does not declare
            self._answer_for_the_resource(resource.allow)
            return
        headers = dict(self.headers.items())
        multi = {name: self.headers.get_all(name) or [] for name in headers}
        event = build_event(route, self.command, url.path, params, url.query, headers, body, multi, address)
        try:
            result = self.server.run(invoke, route.module, event)
        except InvocationTimeout:
            self._gateway_error(GATEWAY_ERRORS["INTEGRATION_TIMEOUT"])
            return
        except Exception:  # a crashed invocation (a dead sandbox) is API Gateway's 502 in the envelope
            self._gateway_error(GATEWAY_ERRORS["INTEGRATION_FAILURE"])
            return
        payload = result.get("body") or ""
        raw = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
        out_headers = dict(result.get("headers") or {})
        for name, values in (result.get("multiValueHeaders") or {}).items():
            out_headers[name] = ", ".join(values)
        self._reply(int(result["statusCode"]), out_headers, raw)

    def _refuse_at_the_edge(self, limit: EdgeLimit) -> None:
        """What the deployed API answers for a request its web ACL blocked. The body is read and dropped, so the
        connection can carry the next request; one that cannot be read (no usable length within the cap) closes it."""
        length = self._declared_length()
        if 0 <= length <= MAX_PAYLOAD_BYTES:
            self.rfile.read(length)
        else:
            self.close_connection = True
        self._gateway_error(GATEWAY_ERRORS[EDGE_REFUSAL], limit.headers)

    def _declared_length(self) -> int:
        """The body's Content-Length (0 without one), or -1 when it is not a length."""
        try:
            return int(self.headers.get("content-length") or 0)
        except ValueError:
            return -1

    def _answer_for_the_resource(self, allow: str) -> None:
        """What the deployed MOCK answers: its one request template is for JSON (a request without Content-Type
        counts as JSON), so another media type is API Gateway's 415 before the MOCK runs; else OPTIONS is 204 and any
        other method 405, both with `Allow`."""
        media_type = (self.headers.get("content-type") or JSON).split(";")[0].strip().lower()
        if media_type != JSON:
            self._gateway_error(GATEWAY_ERRORS["UNSUPPORTED_MEDIA_TYPE"])
        elif self.command == "OPTIONS":
            self._reply(OPTIONS_STATUS, {ALLOW: allow}, b"")
        else:
            self._gateway_error(METHOD_NOT_ALLOWED, {ALLOW: allow})

    def _body(self) -> bytes | None:
        """The request body, or None once a refusal is sent (an unreadable or over-the-cap Content-Length)."""
        length = self._declared_length()
        if length < 0:
            self.close_connection = True
            self._gateway_error(GATEWAY_ERRORS["DEFAULT_4XX"])
            return None
        if length > MAX_PAYLOAD_BYTES:
            self.close_connection = True  # the body is never read: the connection cannot be reused
            self._gateway_error(GATEWAY_ERRORS["REQUEST_TOO_LARGE"])
            return None
        return self.rfile.read(length) if length else b""

    def _gateway_error(self, error: GatewayError, headers: dict[str, str] | None = None) -> None:
        self._reply(error.status, {"Content-Type": "application/json", **(headers or {})}, gateway_error_body(error))

    def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "connection"):
                self.send_header(name, value)
        if status != HTTPStatus.NO_CONTENT:  # a 204 has no Content-Length (RFC 9110 8.6)
            self.send_header("Content-Length", str(len(body)))  # a HEAD's is its GET's
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and status != HTTPStatus.NO_CONTENT:
            self.wfile.write(body)


def serve(host: str, port: int, workers: int, env: dict[str, str] | None = None) -> Gateway:
    """The gateway on host:port; `env` is added to its workers' environment (a function's configuration)."""
    return Gateway((host, port), workers, env)
