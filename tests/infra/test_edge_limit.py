"""The per-address edge limit in the synthesized templates: a regional WAF web ACL on the API stage with one
rate-based rule, and the gateway response API Gateway answers for what it blocks."""

from __future__ import annotations

import json

import pytest

from infra import constants as c
from infra.gateway_responses import TIMESTAMP
from luxxon.api.edge_limit import EDGE_LIMITS
from luxxon.domain.ratelimit import DEFAULT_BUDGETS
from tests.infra.synthesized import SETTINGS, STAGES, Synth, stack_metadata

pytestmark = pytest.mark.infra


@pytest.mark.parametrize("stage", STAGES)
def test_the_stage_has_a_regional_web_acl_limiting_every_request_per_client_address(synth: Synth, stage: str) -> None:
    # Given the stage's web ACL
    limit = SETTINGS[stage].edge_limit
    _, acl = synth.one(stage, "AWS::WAFv2::WebACL")
    props = acl["Properties"]
    # Then it is regional (an API Gateway stage) and lets through what no rule blocks
    assert (props["Scope"], props["DefaultAction"]) == ("REGIONAL", {"Allow": {}})
    assert props["VisibilityConfig"]["CloudWatchMetricsEnabled"] is True
    # And its one rule counts every request (no scope-down: WAF cannot tell a valid key) by its source address over
    # the stage's window, and blocks what goes over the stage's limit
    (rule,) = props["Rules"]
    assert rule["Statement"] == {
        "RateBasedStatement": {"AggregateKeyType": "IP", "Limit": limit.requests, "EvaluationWindowSec": 60}
    }
    # And blocks without a WAF custom response, so API Gateway's WAF_FILTERED gateway response answers (below)
    assert rule["Action"] == {"Block": {}}
    assert rule["VisibilityConfig"]["CloudWatchMetricsEnabled"] is True
    assert rule["VisibilityConfig"]["SampledRequestsEnabled"] is True


@pytest.mark.parametrize("stage", STAGES)
def test_the_web_acl_is_associated_with_the_api_stage(synth: Synth, stage: str) -> None:
    # Given the stage, its REST API, the web ACL and the association
    api_id, _ = synth.one(stage, "AWS::ApiGateway::RestApi")
    stage_id, stage_resource = synth.one(stage, "AWS::ApiGateway::Stage")
    acl_id, _ = synth.one(stage, "AWS::WAFv2::WebACL")
    _, association = synth.one(stage, "AWS::WAFv2::WebACLAssociation")
    props = association["Properties"]
    # Then the association puts that web ACL on that stage (arn:…:apigateway:<region>::/restapis/<id>/stages/<name>)
    assert props["WebACLArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    parts = props["ResourceArn"]["Fn::Join"][1]
    arn = "".join(part if isinstance(part, str) else "{" + part.get("Ref", "?") + "}" for part in parts)
    assert arn.endswith(f":apigateway:{{AWS::Region}}::/restapis/{{{api_id}}}/stages/{{{stage_id}}}"), arn
    # And the access log says, for each request, whether WAF let it through
    assert "$context.wafResponseCode" in stage_resource["Properties"]["AccessLogSetting"]["Format"]


@pytest.mark.parametrize("stage", STAGES)
def test_a_blocked_request_is_answered_429_throttled_in_the_envelope_with_retry_after(synth: Synth, stage: str) -> None:
    # Given the gateway response API Gateway sends for a request the web ACL blocked
    (blocked,) = [
        r["Properties"]
        for r in synth.resources(stage, "AWS::ApiGateway::GatewayResponse").values()
        if r["Properties"]["ResponseType"] == "WAF_FILTERED"
    ]
    # Then it is 429 THROTTLED rate:client in the error envelope, stamped with the request's time like every other
    # answer of the gateway (a WAF custom body could only carry a fixed one)
    template = blocked["ResponseTemplates"]["application/json"]
    body = json.loads(template)
    assert blocked["StatusCode"] == "429"
    assert body == {
        "statusCode": 429,
        "code": "THROTTLED",
        "message": "Too many requests",
        "detail": "rate:client",
        "timestamp": TIMESTAMP,
    }
    # And it says when to retry: the window, and the time WAF may take to notice the rate is back under the limit
    assert blocked["ResponseParameters"] == {
        "gatewayresponse.header.Content-Type": "'application/json'",
        "gatewayresponse.header.Retry-After": f"'{SETTINGS[stage].edge_limit.retry_after_s}'",
    }


def test_one_address_may_spend_a_tenth_of_the_stage_throttle_and_in_prod_a_whole_workspace_budget() -> None:
    for stage in STAGES:
        settings = c.stage_settings(stage)
        assert settings.edge_limit == EDGE_LIMITS[stage]
        assert settings.edge_limit.requests / settings.edge_limit.window_s == settings.api_rate_limit / 10, stage
    prod = EDGE_LIMITS["prod"]
    assert prod.requests / prod.window_s >= DEFAULT_BUDGETS.workspace.per_second


def test_cdk_nag_sees_the_web_acl_on_the_stage(synth: Synth) -> None:
    # AwsSolutions-APIG3 (a REST API stage without a WAFv2 web ACL) is no longer acknowledged on either stack, and
    # synth raises on any AwsSolutions error left unacknowledged: cdk-nag finds the association
    for stack in ("Luxxon-dev", "Luxxon-prod"):
        acknowledged = {
            rule
            for entries in stack_metadata(synth, stack).values()
            for entry in entries
            if entry["type"] == "aws:cdk:acknowledged-rules"
            for rule in entry["data"]
        }
        assert acknowledged
        assert not {rule for rule in acknowledged if "AwsSolutions-APIG3" in rule}, stack
