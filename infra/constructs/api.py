"""The REST API: one Lambda per row of the route table, built in one loop.

Adding an endpoint is a handler module + a row in luxxon.routes: nothing here changes. A GET row's function also
answers HEAD (a HEAD method on the same resource, the same alias; API Gateway sends no body). Every resource also gets
an ANY method, a MOCK answering OPTIONS and the methods the resource does not declare (405 METHOD_NOT_ALLOWED) without
a Lambda (infra/gateway_responses.py). Each function is granted exactly what its row declares in `needs` (GRANTS
below) and nothing else: DATABASE the proxy path, the database secret and the consistency-token key (a write's token
is sealed with it), VIDEO the Cloudflare Stream secret, WEBHOOK_SECRET the webhook signing secret, FRAMES read access
to the frames store, CHAIN the RPC URL and the settlement contract's address, SETTLEMENT sending to the settlement
queue (granted by the settlement capability, which is built after the API). Only code that reaches the database or
Redis is attached to the VPC; /health and the docs run outside it with no grant at all. Before any of it, a WAF web
ACL on the stage limits each client address (infra/constructs/edge_limit.py).

Every function runs with SnapStart: API Gateway invokes (and may invoke only) its `live` alias, which each deploy
moves to the version it publishes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from aws_cdk import CfnOutput, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import constants as c
from infra.constructs.common import Consumer, acknowledge, log_retention, managed_policy_finding
from infra.constructs.edge_limit import ClientRateLimit
from infra.constructs.platform import Platform
from infra.gateway_responses import add_gateway_responses, add_method_answers
from luxxon.routes import (
    API_PREFIX,
    CHAIN,
    DATABASE,
    FRAMES,
    RESOURCES,
    ROUTES,
    SETTLEMENT,
    VIDEO,
    WEBHOOK_SECRET,
    Route,
    allow_header,
)

# What each need of a route row grants its function.
GRANTS: dict[str, Callable[[Platform, Consumer], None]] = {
    DATABASE: lambda platform, consumer: platform.connect_api(consumer),
    VIDEO: lambda platform, consumer: platform.secrets.grant_cloudflare(consumer),
    WEBHOOK_SECRET: lambda platform, consumer: platform.secrets.grant_webhook(consumer),
    FRAMES: lambda platform, consumer: platform.frames.grant_read(consumer),
    CHAIN: lambda platform, consumer: platform.read_chain(consumer),
    SETTLEMENT: lambda platform, consumer: platform.settlement_senders.append(consumer),
}
# Needs that reach a store inside the VPC (the RDS Proxy, ElastiCache); S3 would not need it, Redis does.
IN_VPC = frozenset({DATABASE, FRAMES})

# Access log: one JSON object per request.
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTime",
    "ip": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "method": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "path": "$context.path",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "latencyMs": "$context.responseLatency",
    "integrationLatencyMs": "$context.integrationLatency",
    "integrationStatus": "$context.integration.status",
    "errorType": "$context.error.responseType",
    "errorMessage": "$context.error.message",
    "xrayTraceId": "$context.xrayTraceId",
    "waf": "$context.wafResponseCode",  # WAF_ALLOW, or WAF_BLOCK for a request over the per-address edge limit
}


def construct_name(route: Route) -> str:
    """`sessions-cancel_all` -> `SessionsCancelAll`: the route's stable logical-id stem."""
    return "".join(part.capitalize() for part in re.split(r"[-_]", route.name))


class Api(Construct):
    def __init__(self, scope: Construct, construct_id: str, platform: Platform) -> None:
        super().__init__(scope, construct_id)
        settings = platform.settings
        access_logs = logs.LogGroup(
            self, "AccessLogs", retention=log_retention(settings), removal_policy=RemovalPolicy.DESTROY
        )
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name=f"{c.APP_NAME}-{settings.name}",
            description=f"{c.APP_NAME} API ({settings.name})",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # Binary responses (GET /sessions/{id}/frame, image/jpeg) whatever the client's Accept header: the
            # handler's isBase64Encoded decides. Request bodies then arrive base64-encoded, which Powertools decodes.
            binary_media_types=["*/*"],
            cloud_watch_role=True,  # the account-level role API Gateway needs to write access/execution logs
            # Account-wide (one per region): kept on stack deletion so another stage's API logging keeps working.
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            deploy_options=apigw.StageOptions(
                stage_name=settings.name,
                throttling_rate_limit=settings.api_rate_limit,
                throttling_burst_limit=settings.api_burst_limit,
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # would log request/response bodies (API keys, locations)
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FORMAT)),
            ),
        )
        add_gateway_responses(self.rest_api, settings.edge_limit)
        # The limit per client address, before anything else answers (a WAF web ACL on the stage).
        self.edge_limit = ClientRateLimit(self, "EdgeLimit", settings=settings, stage=self.rest_api.deployment_stage)

        self.functions: dict[str, lambda_.Function] = {}
        self.aliases: dict[str, lambda_.Alias] = {}
        self._frame_readers: ec2.SecurityGroup | None = None
        for route in ROUTES:
            unknown = route.needs - GRANTS.keys()
            if unknown:
                raise ValueError(f"{route.module}: no grant for needs {sorted(unknown)}")
            in_vpc = bool(route.needs & IN_VPC)
            function = platform.functions.function(
                self,
                construct_name(route),
                handler=f"{route.module}.lambda_handler",
                description=f"{route.method} {route.path}",
                in_vpc=in_vpc,
                security_group=self._frame_reader_group(platform) if FRAMES in route.needs else None,
                snap_start=True,
            )
            consumer = Consumer.of_function(function)
            for need in sorted(route.needs):
                GRANTS[need](platform, consumer)
            alias = platform.functions.live_alias(function)
            resource = self.rest_api.root.resource_for_path(route.path)
            integration = self._invoke(alias, route)
            resource.add_method(route.method, integration, operation_name=route.name)
            if route.method == "GET":  # HEAD is the GET handler's (its resolver routes both), without the body
                resource.add_method("HEAD", integration, operation_name=f"{route.name}-head")
            platform.monitoring.watch_function(function, route.name)
            self.functions[route.name] = function
            self.aliases[route.name] = alias
        for path in RESOURCES:
            add_method_answers(self.rest_api.root.resource_for_path(path), allow_header(path))
        platform.monitoring.watch_api(self.rest_api)
        self._acknowledge()
        CfnOutput(scope, "ApiBaseUrl", value=f"{self.rest_api.url.rstrip('/')}{API_PREFIX}")

    def _invoke(self, alias: lambda_.Alias, route: Route) -> apigw.Integration:
        """The Lambda proxy integration of a row's function, and API Gateway's permission to invoke it: one for the
        row's path in this stage, whatever the method (GET and HEAD share it; LambdaIntegration would add one per
        method, and a CloudFormation stack holds at most 500 resources). Never the test-invoke stage."""
        path = re.sub(r"\{[^}]+\}", "*", route.path)
        alias.add_permission(
            "ApiInvoke",
            principal=iam.ServicePrincipal("apigateway.amazonaws.com"),
            source_arn=self.rest_api.arn_for_execute_api("*", path, self.rest_api.deployment_stage.stage_name),
        )
        return apigw.AwsIntegration(
            proxy=True, service="lambda", path=f"2015-03-31/functions/{alias.function_arn}/invocations"
        )

    def _frame_reader_group(self, platform: Platform) -> ec2.SecurityGroup:
        """The frame readers' own security group: only they get the path to Redis, not every database client."""
        if self._frame_readers is None:
            self._frame_readers = platform.functions.new_security_group(
                self, "FrameReadersSecurityGroup", "Lambda functions reading frames"
            )
        return self._frame_readers

    def _acknowledge(self) -> None:
        reasons = {
            "AwsSolutions-APIG2": "Requests are validated in each handler (Powertools, enable_validation=True, "
            "pydantic models) so a bad request gets the API's INVALID_INPUT envelope with the failing field.",
            "AwsSolutions-APIG4": "Callers authenticate with `lxxn_` API keys that the handler middleware checks "
            "against hashed keys and the route table's scopes in PostgreSQL; public routes (health, docs) are "
            "public by design, and so is each resource's ANY method (a MOCK answering OPTIONS and 405): it invokes "
            "nothing and answers only the resource's allowed methods, which the public OpenAPI document lists.",
            "AwsSolutions-COG4": "Not a Cognito API: API keys (see APIG4) are the documented credential.",
        }
        for rule, reason in reasons.items():
            acknowledge(self.rest_api, rule, reason=reason)
        acknowledge(
            self.rest_api,
            managed_policy_finding("service-role/AmazonAPIGatewayPushToCloudWatchLogs"),
            "API Gateway's account-level logging role: the AWS managed policy is the documented one.",
        )
