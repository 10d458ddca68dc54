"""The local system's front door over HTTP: the same handlers, the same table, every answer in an envelope."""

from __future__ import annotations

import json
import re
import socket
import threading

import pytest

from luxxon.api.consistency import PATTERN
from luxxon.api.gateway_errors import GATEWAY_ERRORS, MAX_PAYLOAD_BYTES, METHOD_NOT_ALLOWED
from luxxon.local.gateway import serve
from luxxon.routes import ROUTES, allow_header
from tests.conftest import WorkspaceFactory, unique_place
from tests.e2e.conftest import Http, _free_port


def test_health_over_http(http: Http) -> None:
    status, body, _ = http("GET", "/api/v1/health")
    assert (status, body["data"]) == (200, {"status": "ok"})


ENVELOPE = {"statusCode", "code", "message", "detail", "timestamp"}
# The deployed API's answer to a path no route declares (infra/gateway_responses.py).
ROUTE_NOT_FOUND = GATEWAY_ERRORS["MISSING_AUTHENTICATION_TOKEN"]


def test_a_missing_route_is_the_deployed_gateways_envelope(http: Http) -> None:
    status, body, headers = http("GET", "/api/v1/nowhere")
    assert (status, headers["content-type"]) == (404, "application/json")
    assert set(body) == ENVELOPE
    assert (body["code"], body["detail"], body["message"]) == ("ROUTE_NOT_FOUND", "route:notFound", "Route not found")


# The deployed API's answer to a method a declared path does not declare (its ANY method, a MOCK).
ALLOW_SESSIONS, ALLOW_READ_ONLY = "GET, HEAD, POST, OPTIONS", "GET, HEAD, OPTIONS"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("TRACE", "/api/v1/sessions", ALLOW_SESSIONS),
        ("PUT", "/api/v1/sessions", ALLOW_SESSIONS),
        ("PROPFIND", "/api/v1/me", ALLOW_READ_ONLY),
        ("DELETE", "/api/v1/health", ALLOW_READ_ONLY),
        ("PATCH", "/api/v1/sessions/0b0e4a9e-6c1f-4bb5-9d5d-7f6f2f0f0a11", "GET, HEAD, DELETE, OPTIONS"),
        # a literal path is its own resource, as in API Gateway: DELETE /sessions/inbox cancels no session "inbox"
        ("DELETE", "/api/v1/sessions/inbox", ALLOW_READ_ONLY),
        ("GET", "/api/v1/sessions/cancel-all-assignments", "POST, OPTIONS"),
    ],
)
def test_a_method_a_path_does_not_declare_is_405_with_allow_in_the_envelope(
    http: Http, method: str, path: str, allow: str
) -> None:
    # When a path the route table declares is called with a method none of its rows declares (and no key at all)
    status, body, headers = http(method, path)
    # Then the answer is 405 METHOD_NOT_ALLOWED in the envelope, listing what the path does answer
    assert (status, headers["content-type"], headers["allow"]) == (405, "application/json", allow)
    assert set(body) == ENVELOPE
    assert (body["statusCode"], body["code"], body["detail"]) == (405, "METHOD_NOT_ALLOWED", "route:methodNotAllowed")
    assert (body["code"], body["detail"]) == (METHOD_NOT_ALLOWED.code, METHOD_NOT_ALLOWED.detail)


@pytest.mark.parametrize("method", ["PUT", "OPTIONS"])
def test_the_methods_answered_for_a_path_refuse_a_body_that_is_not_json_as_api_gateway_does(
    gateway: str, method: str
) -> None:
    # When an undeclared method (or OPTIONS) comes with a media type the deployed MOCK has no template for
    request = (
        f"{method} /api/v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
        "Connection: close\r\n\r\nhi"
    ).encode()
    status, headers, body = raw_request(gateway, request)
    # Then it is API Gateway's 415 in the envelope, as deployed (passthrough NEVER), not the MOCK's 405 or 204
    assert (status, json.loads(body)["code"], json.loads(body)["detail"]) == (415, "INVALID_INPUT", "input:mediaType")


@pytest.mark.parametrize("path", ["/api/v1/sessions", "/api/v1/sessions/{id}/accept", "/api/v1/openapi.json"])
def test_options_is_204_with_the_paths_allow_and_no_body(gateway: str, path: str) -> None:
    # When OPTIONS asks what a declared path answers (no key: it is what the public document says)
    target = path.replace("{id}", "0b0e4a9e-6c1f-4bb5-9d5d-7f6f2f0f0a11")
    request = f"OPTIONS {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    status, headers, body = raw_request(gateway, request)
    # Then 204, `Allow` as the route table says, and no content (so no Content-Length either)
    assert (status, headers["allow"], body) == (204, allow_header(path), b"")
    assert "content-length" not in headers


@pytest.mark.parametrize("method", ["OPTIONS", "TRACE", "HEAD"])
def test_a_path_no_route_declares_stays_404_whatever_the_method(gateway: str, method: str) -> None:
    status, headers, _ = raw_request(gateway, f"{method} /api/v1/nowhere HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert (status, headers["content-type"]) == (ROUTE_NOT_FOUND.status, "application/json")
    assert "allow" not in headers


def _get_and_head(gateway: str, path: str, key: str | None = None) -> tuple[tuple[int, dict[str, str], bytes], ...]:
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    return tuple(
        raw_request(gateway, f"{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n".encode())
        for method in ("GET", "HEAD")
    )


# Headers that differ between any two answers (the request's own id, the time).
_PER_REQUEST = {"date", "x-lx-consistency-token"}


@pytest.mark.parametrize("path", ["/api/v1/health", "/api/v1/openapi.json", "/api/v1/docs"])
def test_head_is_get_without_the_body(gateway: str, path: str) -> None:
    # When the same path is asked with GET and with HEAD
    (get_status, get_headers, get_body), (head_status, head_headers, head_body) = _get_and_head(gateway, path)
    # Then HEAD has GET's status and headers, Content-Length included (the length GET's body has), and no body
    assert get_status == head_status == 200 and get_body and head_body == b""
    assert int(head_headers["content-length"]) == len(get_body)
    same = {k: v for k, v in get_headers.items() if k not in _PER_REQUEST}
    assert {k: v for k, v in head_headers.items() if k not in _PER_REQUEST} == same


def test_head_answers_as_get_does_for_a_caller_who_may_not_get(gateway: str, workspace: WorkspaceFactory) -> None:
    # Given a session path: HEAD runs the GET handler, key and scopes included
    supplier = workspace("SUPPLIER", scopes=["sessions:operate"])  # no sessions:read
    path = "/api/v1/sessions/0b0e4a9e-6c1f-4bb5-9d5d-7f6f2f0f0a11"
    for key, status in ((None, 401), (supplier.key, 403)):
        (get_status, _, get_body), (head_status, head_headers, head_body) = _get_and_head(gateway, path, key)
        assert (get_status, head_status, head_body) == (status, status, b"")
        assert int(head_headers["content-length"]) == len(get_body) > 0


def test_head_of_a_path_without_get_is_its_405_without_a_body(gateway: str) -> None:
    request = b"HEAD /api/v1/sessions/cancel-all-assignments HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    status, headers, body = raw_request(gateway, request)
    assert (status, headers["allow"], body) == (405, "POST, OPTIONS", b"")


def raw_request(base: str, data: bytes, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """Send exactly these bytes (what urllib would refuse to send) and read one response."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(data)
        reader = sock.makefile("rb")
        status = int(reader.readline().split()[1])
        headers: dict[str, str] = {}
        while (line := reader.readline().decode("latin-1").strip()) != "":
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        if b"connection: close" in data.lower():  # everything until the server closes: a stray body would show
            body = reader.read()
        else:
            body = reader.read(length) if length and b"HEAD" not in data[:5] else b""
    return status, headers, body


def test_a_request_line_the_gateway_cannot_parse_is_an_error_envelope(gateway: str) -> None:
    status, headers, body = raw_request(gateway, b"NOT A REQUEST\r\n\r\n")
    default = GATEWAY_ERRORS["DEFAULT_4XX"]
    assert (status, headers["content-type"]) == (default.status, "application/json")
    assert json.loads(body)["detail"] == default.detail


def test_a_payload_over_api_gateways_10_mb_is_413_in_the_envelope_without_reading_it(gateway: str) -> None:
    request = (
        b"POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % (MAX_PAYLOAD_BYTES + 1)
    )
    status, _, body = raw_request(gateway, request)
    assert status == 413
    assert (json.loads(body)["code"], json.loads(body)["detail"]) == ("INVALID_INPUT", "input:tooLarge")


NON_ASCII_HEADERS = [
    b"Authorization: Bearer lxxn_\xc3\xa9\xff",
    b"Authorization: \xff\xfe",
    b"X-Lx-Consistency-Token: \xc3\xa9",
]


@pytest.mark.parametrize("header", NON_ASCII_HEADERS)
def test_non_ascii_header_bytes_are_answered_in_the_envelope(gateway: str, header: bytes) -> None:
    request = b"GET /api/v1/me HTTP/1.1\r\nHost: x\r\n" + header + b"\r\nConnection: close\r\n\r\n"
    status, _, body = raw_request(gateway, request)
    assert status == 401
    assert json.loads(body)["code"] == "NOT_AUTHENTICATED"


def test_a_burst_of_connections_is_queued_by_the_kernel_not_dropped(database_url: str) -> None:
    # Given a gateway that accepts nothing yet (its listen backlog alone holds what arrives)
    server = serve("127.0.0.1", _free_port(), workers=2)
    address = server.server_address
    sockets: list[socket.socket] = []
    try:
        # When 128 clients connect at once, each handshake completes in the kernel's queue (the standard library's
        # backlog of 5 drops the SYNs of all but the first few: they wait for a retransmission, a second or more)
        for _ in range(128):
            sockets.append(socket.create_connection(address, timeout=0.5))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        # Then, once it serves, every one of them is answered
        for sock in sockets:
            sock.settimeout(30)
            sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        statuses = [int(sock.makefile("rb").readline().split()[1]) for sock in sockets]
        assert statuses == [200] * 128
    finally:
        for sock in sockets:
            sock.close()
        server.shutdown()
        server.server_close()


def test_the_openapi_document_lists_every_route_of_the_table(http: Http) -> None:
    status, doc, headers = http("GET", "/api/v1/openapi.json")
    assert status == 200 and headers["content-type"].startswith("application/json")
    assert doc["openapi"].startswith("3.")
    declared = {(r.path, r.method.lower()) for r in ROUTES}
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert documented == declared
    session = doc["components"]["schemas"]["LxSessionDto"]
    assert {"id", "state", "ratePerSecondMicroUsdc", "holdMicroUsdc", "cleanSeconds", "authorized"} <= set(
        session["properties"]
    )
    cancel = doc["paths"]["/api/v1/sessions/{id}"]["delete"]
    assert {"200", "401", "403", "404", "409", "503"} <= set(cancel["responses"])
    assert any(p["name"] == "x-lx-consistency-token" for p in cancel["parameters"])


def test_the_docs_page_is_served(http: Http) -> None:
    status, body, headers = http("GET", "/api/v1/docs")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert "openapi.json" in body["raw"]


def test_a_session_walks_its_lifecycle_over_http(http: Http, workspace: WorkspaceFactory) -> None:
    here, area = unique_place()  # an inbox of its own: oldest first, 20 a page, in a database other tests fill
    consumer, supplier = workspace("CONSUMER"), workspace("SUPPLIER", coverage=area)
    status, created, headers = http("POST", "/api/v1/sessions", consumer.key, here)
    assert status == 201 and re.fullmatch(PATTERN, headers["x-lx-consistency-token"])  # sealed, no counter shows
    session_id = created["data"]["id"]
    inbox = http("GET", "/api/v1/sessions/inbox", supplier.key)[1]["data"]["items"]
    assert session_id in [s["id"] for s in inbox]
    assert http("POST", f"/api/v1/sessions/{session_id}/accept", supplier.key)[1]["data"]["state"] == "ASSIGNED"
    assert http("DELETE", f"/api/v1/sessions/{session_id}", consumer.key)[1]["data"]["state"] == "CANCELLED"


def test_a_worker_that_dies_does_not_take_the_gateway_down(database_url: str) -> None:
    import os
    import signal
    import threading

    from luxxon.local.gateway import serve
    from tests.e2e.conftest import _free_port, request

    server = serve("127.0.0.1", _free_port(), workers=2)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert request(base, "GET", "/api/v1/health")[0] == 200
        # When a worker process dies the way a sandbox can (SIGKILL)
        for pid in list(server.pool._processes):  # the pool's own bookkeeping: which processes are its workers
            os.kill(pid, signal.SIGKILL)
        statuses = [request(base, "GET", "/api/v1/health")[0] for _ in range(3)]
        # Then at most the request in flight fails (502 in the envelope) and the gateway serves again
        assert statuses[-1] == 200
        assert set(statuses) <= {200, 502}
    finally:
        server.shutdown()
        server.server_close()
