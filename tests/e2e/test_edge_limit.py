"""The per-address edge limit over HTTP: the local gateway answers as the stage's WAF web ACL and its WAF_FILTERED
gateway response do (luxxon.api.edge_limit, luxxon.api.gateway_errors), before routing, keys or bodies."""

from __future__ import annotations

import http.client
import json
import re
from typing import Any

from tests.conftest import RunningEdge, WorkspaceFactory
from tests.e2e.conftest import edge_env, running_gateway

LIMIT = 20  # requests per address in any 60 s, this gateway's LX_EDGE_LIMIT
CLF = re.compile(r"^\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000$")  # $context.requestTime


def call(
    port: int, method: str, path: str, *, source: str = "127.0.0.1", key: str | None = None, body: Any = None
) -> tuple[int, dict[str, str], dict[str, Any]]:
    """One request to the gateway on 127.0.0.1 from the client address `source` (any of 127.0.0.0/8 is this host)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60, source_address=(source, 0))
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    data = json.dumps(body).encode() if body is not None else None
    if data is not None:
        headers["Content-Type"] = "application/json"
    try:
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, json.loads(raw) if raw else {}
    finally:
        connection.close()


def test_an_address_over_the_edge_limit_is_refused_whatever_it_asks_and_another_address_is_served(
    workspace: WorkspaceFactory, edge: RunningEdge
) -> None:
    # Given a gateway limiting each address to 20 requests a minute, and a consumer's valid key
    consumer = workspace("CONSUMER")
    with running_gateway(2, {**edge_env(edge), "LX_EDGE_LIMIT": f"{LIMIT}/60"}) as server:
        port = server.server_address[1]
        # When one address spends the limit (public and authenticated routes alike), all of it is served
        statuses = [call(port, "GET", "/api/v1/health")[0] for _ in range(LIMIT // 2)]
        statuses += [call(port, "GET", "/api/v1/sessions", key=consumer.key)[0] for _ in range(LIMIT - LIMIT // 2)]
        assert statuses == [200] * LIMIT
        # Then whatever it asks next is refused at the edge: with its valid key, a path no route declares, OPTIONS, a
        # body
        refusals = [
            call(port, "GET", "/api/v1/sessions", key=consumer.key),
            call(port, "GET", "/api/v1/nowhere"),
            call(port, "OPTIONS", "/api/v1/sessions"),
            call(port, "POST", "/api/v1/sessions", key=consumer.key, body={"lat": 4.71, "lng": -74.07}),
        ]
        # And another address, with the same key, is served
        other = call(port, "GET", "/api/v1/sessions", source="127.0.0.2", key=consumer.key)

    for status, headers, body in refusals:
        # 429 THROTTLED in the error envelope, as API Gateway's WAF_FILTERED gateway response answers, and when to retry
        assert status == 429
        assert headers["content-type"] == "application/json"
        assert headers["retry-after"] == "90"  # the window (60 s) and WAF's release delay (30 s)
        assert set(body) == {"statusCode", "code", "message", "detail", "timestamp"}
        assert (body["statusCode"], body["code"], body["message"], body["detail"]) == (
            429,
            "THROTTLED",
            "Too many requests",
            "rate:client",
        )
        assert CLF.match(body["timestamp"]), body["timestamp"]
    assert other[0] == 200
