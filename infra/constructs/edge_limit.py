"""The limit per client address at the edge: a regional AWS WAF web ACL on the API stage with one rate-based rule.

The rule counts every request by its source address (API Gateway REST, REGIONAL: the client connects to it directly,
so the source address is the client's and no forwarded header, which a client could forge, is trusted) over the
stage's window and blocks what goes over the stage's limit (luxxon.api.edge_limit). A blocked request gets no WAF
custom response on purpose: API Gateway then answers with its WAF_FILTERED gateway response, which is the error
envelope with `$context.requestTime` like every other gateway answer (a WAF custom body is static text, so its
timestamp could only be fixed or missing), 429 THROTTLED `rate:client` and Retry-After (infra/gateway_responses.py).

Two resources (the web ACL, its association with the stage); a CloudFormation stack holds at most 500.
"""

from __future__ import annotations

from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from infra import constants as c

RULE_NAME = "client-rate"


def _visibility(metric_name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    """CloudWatch metrics (AWS/WAFV2, BlockedRequests and AllowedRequests by rule) and sampled requests."""
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=metric_name, sampled_requests_enabled=True
    )


class ClientRateLimit(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, settings: c.StageSettings, stage: apigw.Stage) -> None:
        super().__init__(scope, construct_id)
        limit = settings.edge_limit
        name = f"{c.APP_NAME}-{settings.name}-api"
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            name=name,
            # WAF's description pattern allows no parentheses
            description=f"{c.APP_NAME} {settings.name} API: at most {limit.requests} requests per client address in "
            f"any {limit.window_s} s",
            scope="REGIONAL",  # an API Gateway stage is a regional resource
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility(name),
            rules=[
                wafv2.CfnWebACL.RuleProperty(
                    name=RULE_NAME,
                    priority=0,
                    # Every request: WAF cannot check an API key, and a rule scoped to requests without one would
                    # let anyone past it with `Authorization: Bearer lxxn_anything`.
                    statement=wafv2.CfnWebACL.StatementProperty(
                        rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                            aggregate_key_type="IP", limit=limit.requests, evaluation_window_sec=limit.window_s
                        )
                    ),
                    # No custom response: API Gateway's WAF_FILTERED gateway response answers (see the docstring).
                    action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                    visibility_config=_visibility(f"{name}-{RULE_NAME}"),
                )
            ],
        )
        self.association = wafv2.CfnWebACLAssociation(
            self, "Association", resource_arn=stage.stage_arn, web_acl_arn=self.web_acl.attr_arn
        )
