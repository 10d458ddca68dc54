"""The handlers invoked in process with API Gateway events as AWS sends them, not only as the local gateway builds them.

The events are recorded shapes from the AWS documentation (tests/integration/api_gateway_events/, see its README): a
body as text (`isBase64Encoded: false`) where the local gateway always sends base64, headers as the client cased
them, no Content-Type, `headers: null` and `multiValueHeaders: null` (the console's test invocation), and the stage in
front of `requestContext.path`.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import WEBHOOK_SECRET, Api, WorkspaceFactory, call_event

EVENTS = Path(__file__).with_name("api_gateway_events")
ENVELOPE = {"statusCode", "code", "message", "detail", "timestamp"}


def recorded(name: str, **values: str) -> dict[str, Any]:
    """A recorded event with its placeholders (`${KEY}`...) filled in."""
    text = (EVENTS / f"{name}.json").read_text()
    for placeholder, value in values.items():
        text = text.replace("${" + placeholder + "}", value)
    assert "${" not in text, "a placeholder left unfilled"
    event: dict[str, Any] = json.loads(text)
    return event


def set_header(event: dict[str, Any], name: str, value: str | None) -> dict[str, Any]:
    """The event with header `name` (any case) replaced by `value` in both header maps, or removed (None)."""
    for field in ("headers", "multiValueHeaders"):
        kept = {k: v for k, v in (event[field] or {}).items() if k.lower() != name.lower()}
        if value is not None:
            kept[name] = value if field == "headers" else [value]
        event[field] = kept
    return event


def test_the_local_gateway_builds_what_aws_documents_for_the_same_request() -> None:
    # Given the documented POST, and the event the local gateway builds for the same request
    from luxxon.local.gateway import build_event, match

    aws = recorded("documented_post", KEY="lxxn_key")
    found = match("POST", "/api/v1/sessions")
    assert found is not None
    local = build_event(found[0], "POST", "/api/v1/sessions", found[1], "", aws["headers"], aws["body"].encode())
    # Then it has every field AWS sends, with the values the request decides
    assert set(local) == set(aws)
    same = ("resource", "path", "httpMethod", "headers", "queryStringParameters", "multiValueQueryStringParameters")
    assert {k: local[k] for k in same} == {k: aws[k] for k in same}
    assert local["pathParameters"] == aws["pathParameters"] is None
    assert {k: v for k, v in aws["multiValueHeaders"].items() if k} == local["multiValueHeaders"]
    context, documented = local["requestContext"], aws["requestContext"]
    assert set(documented) <= set(context)
    assert (context["resourcePath"], context["httpMethod"]) == (documented["resourcePath"], documented["httpMethod"])
    # the stage in front of requestContext.path (the documented one: /testStage/api/v1/sessions)
    assert context["path"] == f"/{context['stage']}/api/v1/sessions"
    assert documented["path"] == f"/{documented['stage']}/api/v1/sessions"
    assert re.fullmatch(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000", context["requestTime"])
    assert isinstance(context["requestTimeEpoch"], int) and isinstance(context["identity"]["sourceIp"], str)
    # And the same body, base64-encoded as the deployed API (binaryMediaTypes */*, tests/infra/test_stack.py) sends it
    assert (local["isBase64Encoded"], base64.b64decode(local["body"])) == (True, aws["body"].encode())


def test_a_create_as_the_aws_documentation_records_it_creates_the_session(
    api: Api, workspace: WorkspaceFactory
) -> None:
    # Given the documented POST: a text body with CR LF and tabs, `Content-Type` as the client cased it, CloudFront's
    # headers, the stage in front of requestContext.path
    consumer = workspace("CONSUMER")
    # When the create handler gets it
    reply = call_event(recorded("documented_post", KEY=consumer.key))
    # Then the session is created where the body asked, as a create over the local gateway would be
    assert reply.status == 201, reply.body
    assert (reply.data["requestedLat"], reply.data["requestedLng"], reply.data["state"]) == (1.0, 2.0, "REQUESTED")
    assert reply.headers["x-lx-consistency-token"]
    seen = api("GET", f"/api/v1/sessions/{reply.data['id']}", consumer.key)
    assert (seen.status, seen.data["consumerWorkspaceId"]) == (200, consumer.id)


def test_a_text_body_without_a_content_type_is_read_as_json(workspace: WorkspaceFactory) -> None:
    consumer = workspace("CONSUMER")
    event = set_header(recorded("documented_post", KEY=consumer.key), "Content-Type", None)
    reply = call_event(event)
    assert (reply.status, reply.data["requestedLat"]) == (201, 1.0), reply.body


def test_a_text_body_that_is_not_json_is_400_in_the_envelope(workspace: WorkspaceFactory) -> None:
    event = recorded("documented_post", KEY=workspace("CONSUMER").key)
    event["body"] = "lat=1&lng=2"
    reply = call_event(event)
    assert (reply.status, set(reply.body), reply.error) == (400, ENVELOPE, ("INVALID_INPUT", "input:body"))


def test_a_retry_with_its_idempotency_key_is_replayed_whatever_its_request_context(
    workspace: WorkspaceFactory,
) -> None:
    # Given the documented POST with an Idempotency-Key, sent twice through different stages and request ids
    consumer, key = workspace("CONSUMER"), f"retry-{uuid.uuid4()}"
    first_event = set_header(recorded("documented_post", KEY=consumer.key), "Idempotency-Key", key)
    retry = set_header(recorded("documented_post", KEY=consumer.key), "Idempotency-Key", key)
    retry["requestContext"] |= {"stage": "prod", "path": "/prod/api/v1/sessions", "requestId": str(uuid.uuid4())}
    # When both reach the handler
    first, again = call_event(first_event), call_event(retry)
    # Then the retry replays the first (the request is its method, path and body, not where it came through)
    assert (first.status, again.status, again.data) == (201, 201, first.data)
    assert again.headers.get("idempotent-replayed") == "true"


def test_a_console_test_invocation_without_headers_is_refused_in_the_envelope() -> None:
    # Given the console's test invocation of GET /sessions/{id}: `headers` and `multiValueHeaders` are null
    event = recorded("console_test_invoke", ID=str(uuid.uuid4()))
    assert (event["headers"], event["multiValueHeaders"]) == (None, None)
    # When the handler gets it
    reply = call_event(event)
    # Then it is a missing key: 401 in the envelope, not a crash
    assert (reply.status, set(reply.body)) == (401, ENVELOPE)
    assert reply.error == ("NOT_AUTHENTICATED", "auth:missingBearer")


def test_a_console_test_invocation_of_a_public_route_is_answered() -> None:
    event = recorded("console_test_invoke", ID="unused")
    event |= {"resource": "/api/v1/health", "path": "/api/v1/health", "pathParameters": None}
    event["requestContext"] |= {"resourcePath": "/api/v1/health", "path": "/api/v1/health"}
    reply = call_event(event)
    assert (reply.status, reply.data) == (200, {"status": "ok"})


@pytest.mark.usefixtures("video_env")
def test_a_webhook_without_headers_is_refused_and_one_with_its_secret_is_read_from_a_text_body() -> None:
    # Given a Cloudflare notification (a test message) as the console would send it: no headers, a text body
    event = recorded("console_test_invoke", ID="unused")
    event |= {"resource": "/api/v1/webhooks/stream", "path": "/api/v1/webhooks/stream", "httpMethod": "POST"}
    event |= {"pathParameters": None, "body": json.dumps({"name": "Test", "text": "Hello", "data": {}, "ts": 1})}
    event["requestContext"] |= {"resourcePath": "/api/v1/webhooks/stream", "httpMethod": "POST"}
    # Then without the secret header it is 401 in the envelope, and with it the body is read as sent
    refused = call_event(event)
    assert (refused.status, refused.error) == (401, ("NOT_AUTHENTICATED", "webhook:badSecret"))
    accepted = call_event(event | {"headers": {"cf-webhook-auth": WEBHOOK_SECRET}})
    assert (accepted.status, accepted.data) == (200, {"event": "", "effect": "none"})


def test_query_parameters_arrive_in_both_maps_as_aws_sends_them(workspace: WorkspaceFactory) -> None:
    # Given a consumer with two sessions, one of them cancelled
    consumer = workspace("CONSUMER")
    created = [call_event(recorded("documented_post", KEY=consumer.key)).data["id"] for _ in range(2)]
    assert call_event(cancel_event(consumer.key, created[0])).status == 200
    # When it lists its REQUESTED ones, one a page, with the query string as API Gateway passes it
    event = recorded("documented_post", KEY=consumer.key) | {"httpMethod": "GET", "body": None}
    event |= {
        "queryStringParameters": {"state": "REQUESTED", "limit": "1"},
        "multiValueQueryStringParameters": {"state": ["REQUESTED"], "limit": ["1"]},
    }
    event["requestContext"] |= {"httpMethod": "GET"}
    page = call_event(event)
    # Then it gets the one still REQUESTED
    assert page.status == 200, page.body
    assert [s["id"] for s in page.data["items"]] == [created[1]]


def cancel_event(key: str, session_id: str) -> dict[str, Any]:
    event = recorded("documented_post", KEY=key) | {"httpMethod": "DELETE", "body": None}
    event |= {"resource": "/api/v1/sessions/{id}", "path": f"/api/v1/sessions/{session_id}"}
    event |= {"pathParameters": {"id": session_id}}
    event["requestContext"] |= {
        "httpMethod": "DELETE",
        "resourcePath": "/api/v1/sessions/{id}",
        "path": f"/testStage/api/v1/sessions/{session_id}",
    }
    return event
