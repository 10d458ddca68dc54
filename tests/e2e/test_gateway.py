"""The local system's front door over HTTP: the same handlers, the same table, every answer in an envelope."""

from __future__ import annotations

from luxxon.routes import ROUTES
from tests.conftest import WorkspaceFactory
from tests.e2e.conftest import Http


def test_health_over_http(http: Http) -> None:
    status, body, _ = http("GET", "/api/v1/health")
    assert (status, body["data"]) == (200, {"status": "ok"})


def test_a_missing_route_is_an_error_envelope(http: Http) -> None:
    status, body, _ = http("GET", "/api/v1/nowhere")
    assert status == 404
    assert set(body) == {"statusCode", "code", "message", "detail", "timestamp"}
    assert body["code"] == "ROUTE_NOT_FOUND"


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
    consumer, supplier = workspace("CONSUMER"), workspace("SUPPLIER", coverage=(4.71, -74.07, 5_000))
    status, created, headers = http("POST", "/api/v1/sessions", consumer.key, {"lat": 4.71, "lng": -74.07})
    assert status == 201 and headers["x-lx-consistency-token"].isdigit()
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
