"""The CDK app's templates (synthesized once per session, see synthesized.py): properties, cdk-nag, and cfn-lint."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from infra import constants as c
from infra.bundling import tree_hash
from infra.constructs.database import ENGINE_VERSION
from infra.gateway_responses import GATEWAY_ERRORS, TIMESTAMP
from luxxon.routes import FRAMES, RESOURCES, ROUTES, allow_header
from tests.infra.synthesized import (
    STAGES,
    Synth,
    as_list,
    function_by_handler,
    layer_ids,
    stack_metadata,
    statements,
)

pytestmark = pytest.mark.infra

ENVELOPE_KEYS = {"statusCode", "code", "message", "detail", "timestamp"}
# Actions that AWS allows only on Resource "*": none of them touches a data resource.
STAR_RESOURCE_ACTIONS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "ecr:GetAuthorizationToken",
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
}


def _api_paths(synth: Synth, stage: str) -> dict[str, str]:
    """API Gateway resource logical id -> full path, rebuilt from PathPart/ParentId."""
    resources = synth.resources(stage, "AWS::ApiGateway::Resource")
    paths: dict[str, str] = {}

    def path_of(logical_id: str) -> str:
        if logical_id not in paths:
            props = resources[logical_id]["Properties"]
            parent = props["ParentId"]
            prefix = path_of(parent["Ref"]) if "Ref" in parent else ""
            paths[logical_id] = f"{prefix}/{props['PathPart']}"
        return paths[logical_id]

    for logical_id in resources:
        path_of(logical_id)
    return paths


# --- API --------------------------------------------------------------------------------------------------------


def test_every_route_has_its_own_function_with_the_layer_and_its_handler(synth: Synth) -> None:
    # Given the route table, When the dev stack is synthesized
    functions = function_by_handler(synth, "dev")
    layer_id = layer_ids(synth, "dev")["shared"]
    # Then each row has one function running `<module>.lambda_handler` with the shared layer (only) and the defaults
    handlers = [f"{route.module}.lambda_handler" for route in ROUTES]
    assert len(set(handlers)) == len(ROUTES)
    for handler in handlers:
        _, function = functions[handler]
        props = function["Properties"]
        assert props["Layers"] == [{"Ref": layer_id}]
        assert props["Runtime"] == f"python{c.PYTHON_VERSION}"
        assert props["Architectures"] == [c.ARCHITECTURE]
        assert props["TracingConfig"] == {"Mode": "Active"}
        env = props["Environment"]["Variables"]
        assert env["POWERTOOLS_SERVICE_NAME"] == c.SERVICE_NAME
        assert env[c.ENV_STAGE] == "dev"


def _asset_dir(synth: Synth, props: dict[str, Any]) -> Path:
    key = props["Content"]["S3Key"] if "Content" in props else props["Code"]["S3Key"]
    return synth.outdir / f"asset.{key.removesuffix('.zip')}"


def test_function_asset_holds_the_functions_package_and_the_layer_holds_luxxon_and_its_wheels(synth: Synth) -> None:
    # Given the synthesized assets
    _, function = function_by_handler(synth, "dev")["functions.sessions.get.lambda_handler"]
    code = _asset_dir(synth, function["Properties"])
    layer = synth.templates["dev"]["Resources"][layer_ids(synth, "dev")["shared"]]
    python = _asset_dir(synth, layer["Properties"]) / "python"
    # Then every handler module is at functions/<area>/<name>.py in the code asset
    for route in ROUTES:
        assert (code / (route.module.replace(".", "/") + ".py")).is_file(), route.module
    # And the layer has luxxon (without the dev-only local system) and binary wheels for the Lambda runtime
    assert (python / "luxxon" / "routes.py").is_file()
    assert not (python / "luxxon" / "local").exists()
    arch = "x86_64" if c.ARCHITECTURE == "x86_64" else "aarch64"
    tag = f"cpython-{c.PYTHON_VERSION.replace('.', '')}-{arch}-linux-gnu"
    assert list((python / "pydantic_core").glob(f"*.{tag}.so"))
    assert list((python / "psycopg_binary").glob(f"*.{tag}.so"))
    assert (python / "aws_lambda_powertools").is_dir()
    # And no web3: that is the chain layer's, for the two functions that use it (tests/infra/test_settlement.py)
    assert not (python / "web3").exists()


def _methods(synth: Synth, stage: str, kind: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(HTTP method, path) -> the method's properties, for the methods whose integration is of `kind`."""
    paths = _api_paths(synth, stage)
    return {
        (props["HttpMethod"], paths[props["ResourceId"]["Ref"]]): props
        for props in (m["Properties"] for m in synth.resources(stage, "AWS::ApiGateway::Method").values())
        if props["Integration"]["Type"] == kind
    }


def test_api_methods_that_invoke_a_function_are_the_route_table_and_head_beside_each_get(synth: Synth) -> None:
    # Given the API's methods that invoke a function
    functions = synth.resources("dev", "AWS::Lambda::Function")
    aliases = synth.resources("dev", "AWS::Lambda::Alias")
    proxied = _methods(synth, "dev", "AWS_PROXY")
    # Then they are the rows of the table, and a HEAD wherever a row is a GET
    rows = {(route.method, route.path): route for route in ROUTES}
    heads = {("HEAD", route.path): route for route in ROUTES if route.method == "GET"}
    assert set(proxied) == set(rows) | set(heads)
    for key, props in proxied.items():
        # And each is a Lambda proxy integration to (the live alias of) the function of its own row (HEAD: the GET's)
        target = json.dumps(props["Integration"]["Uri"])
        (alias_id,) = [aid for aid in aliases if f'{{"Ref": "{aid}"}}' in target]
        function_id = aliases[alias_id]["Properties"]["FunctionName"]["Ref"]
        route = rows.get(key) or heads[key]
        assert functions[function_id]["Properties"]["Handler"] == f"{route.module}.lambda_handler", key


def test_api_gateway_may_invoke_each_alias_on_its_own_path_only(synth: Synth) -> None:
    # Given API Gateway's invoke permissions (one per function: GET and HEAD share it)
    aliases = synth.resources("dev", "AWS::Lambda::Alias")
    functions = synth.resources("dev", "AWS::Lambda::Function")
    permissions = [
        p["Properties"]
        for p in synth.resources("dev", "AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "apigateway.amazonaws.com"
    ]
    assert len(permissions) == len(ROUTES)
    by_handler = {
        functions[aliases[p["FunctionName"]["Ref"]]["Properties"]["FunctionName"]["Ref"]]["Properties"]["Handler"]: p
        for p in permissions
    }
    api_id, _ = synth.one("dev", "AWS::ApiGateway::RestApi")
    stage_id, _ = synth.one("dev", "AWS::ApiGateway::Stage")
    for route in ROUTES:
        # Then each names its row's path in this API's deployed stage (any method: the row's, and HEAD), no wider
        parts = by_handler[f"{route.module}.lambda_handler"]["SourceArn"]["Fn::Join"][1]
        source = "".join(part if isinstance(part, str) else "{" + part["Ref"] + "}" for part in parts)
        path = re.sub(r"\{[^}]+\}", "*", route.path)
        assert source.endswith(f":{{{api_id}}}/{{{stage_id}}}/*{path}"), source


def test_every_path_answers_options_and_its_undeclared_methods_from_a_mock_with_allow(synth: Synth) -> None:
    # Given the API's MOCK methods: one ANY per path of the table, which API Gateway uses for the methods the path
    # does not declare (its explicit methods take precedence)
    mocks = _methods(synth, "dev", "MOCK")
    assert set(mocks) == {("ANY", path) for path in RESOURCES}
    for (_, path), props in mocks.items():
        integration = props["Integration"]
        allow = f"'{allow_header(path)}'"
        # Then the request template picks 204 for OPTIONS and 405 for anything else, with any body made text first
        template = integration["RequestTemplates"]["application/json"]
        assert '#if($context.httpMethod == "OPTIONS")' in template and '"statusCode": 204' in template
        assert '#else\n    "statusCode": 405' in template
        assert (integration["ContentHandling"], integration["PassthroughBehavior"]) == ("CONVERT_TO_TEXT", "NEVER")
        by_status = {r["StatusCode"]: r for r in integration["IntegrationResponses"]}
        # And OPTIONS is 204 with the path's Allow and no body
        options = by_status["204"]
        assert options["SelectionPattern"] == "204" and "ResponseTemplates" not in options
        assert options["ResponseParameters"] == {"method.response.header.Allow": allow}
        # And every other method is the default response: 405 METHOD_NOT_ALLOWED in the envelope, with Allow
        refused = by_status["405"]
        assert "SelectionPattern" not in refused
        assert refused["ResponseParameters"] == {
            "method.response.header.Allow": allow,
            "method.response.header.Content-Type": "'application/json'",
        }
        body = json.loads(
            refused["ResponseTemplates"]["application/json"].replace(TIMESTAMP, "24/Nov/2026:05:11:00 +0000")
        )
        assert set(body) == ENVELOPE_KEYS
        assert (body["statusCode"], body["code"], body["detail"]) == (
            405,
            "METHOD_NOT_ALLOWED",
            "route:methodNotAllowed",
        )
        # And the method declares both responses and their headers; no authorization (nothing is invoked)
        declared = {r["StatusCode"]: set(r["ResponseParameters"]) for r in props["MethodResponses"]}
        assert declared == {
            "204": {"method.response.header.Allow"},
            "405": {"method.response.header.Allow", "method.response.header.Content-Type"},
        }
        assert props["AuthorizationType"] == "NONE"


def test_both_stacks_keep_room_under_cloudformations_500_resources(synth: Synth) -> None:
    # A stack over 500 resources cannot deploy (synth refuses it): each route adds about ten (function, role, policy,
    # log group, version, alias, permission, alarm, method, resource), a GET one HEAD more
    for stage, template in synth.templates.items():
        assert len(template["Resources"]) <= 480, (stage, len(template["Resources"]))


def test_stage_is_throttled_traced_and_access_logged(synth: Synth) -> None:
    settings = c.stage_settings("dev")
    _, stage = synth.one("dev", "AWS::ApiGateway::Stage")
    props = stage["Properties"]
    assert props["StageName"] == "dev"
    assert props["TracingEnabled"] is True
    assert "$context.requestId" in props["AccessLogSetting"]["Format"]
    json.loads(props["AccessLogSetting"]["Format"])  # one JSON object per request
    (everything,) = [s for s in props["MethodSettings"] if s["ResourcePath"] == "/*"]
    assert everything["ThrottlingRateLimit"] == settings.api_rate_limit
    assert everything["ThrottlingBurstLimit"] == settings.api_burst_limit
    assert everything["DataTraceEnabled"] is False


def test_every_body_reaches_the_handlers_base64_encoded_as_the_local_gateway_sends_it(synth: Synth) -> None:
    # Given the REST API: every media type is binary (so GET /frame's JPEG goes out as bytes)
    _, api = synth.one("dev", "AWS::ApiGateway::RestApi")
    assert api["Properties"]["BinaryMediaTypes"] == ["*/*"]
    # Then request bodies arrive base64-encoded, which is what the local gateway and the test helper send
    from luxxon.local.gateway import build_event

    route = next(r for r in ROUTES if r.method == "POST")
    event = build_event(route, "POST", route.path, {}, "", {"content-type": "application/json"}, b"{}")
    assert (event["isBase64Encoded"], event["body"]) == (True, "e30=")


def test_gateway_responses_use_the_error_envelope(synth: Synth) -> None:
    # Given every gateway response of the API
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in synth.resources("dev", "AWS::ApiGateway::GatewayResponse").values()
    }
    # Then every response type API Gateway can emit is covered
    required = {
        "DEFAULT_4XX",
        "DEFAULT_5XX",
        "UNAUTHORIZED",
        "ACCESS_DENIED",
        "MISSING_AUTHENTICATION_TOKEN",
        "THROTTLED",
    }
    assert required <= set(responses) == set(GATEWAY_ERRORS)
    for response_type, props in responses.items():
        # And each body is the envelope, with the status it is sent with
        body = json.loads(
            props["ResponseTemplates"]["application/json"].replace(TIMESTAMP, "24/Nov/2026:05:11:00 +0000")
        )
        assert set(body) == ENVELOPE_KEYS, response_type
        assert body["statusCode"] == int(props["StatusCode"]), response_type
        assert body["code"] and body["message"] and body["detail"], response_type
        assert props["ResponseParameters"]["gatewayresponse.header.Content-Type"] == "'application/json'"
    assert _code(responses, "MISSING_AUTHENTICATION_TOKEN") == (404, "ROUTE_NOT_FOUND")
    assert _code(responses, "UNAUTHORIZED") == (401, "NOT_AUTHENTICATED")
    assert _code(responses, "THROTTLED") == (429, "THROTTLED")
    assert _code(responses, "DEFAULT_5XX") == (500, "INTERNAL_ERROR")


def _code(responses: dict[str, dict[str, Any]], response_type: str) -> tuple[int, str]:
    body = json.loads(responses[response_type]["ResponseTemplates"]["application/json"])
    return body["statusCode"], body["code"]


# --- database ---------------------------------------------------------------------------------------------------


def test_database_is_aurora_postgresql_serverless_v2_behind_rds_proxy(synth: Synth) -> None:
    for stage in ("dev", "prod"):
        settings = c.stage_settings(stage)
        _, cluster = synth.one(stage, "AWS::RDS::DBCluster")
        props = cluster["Properties"]
        assert props["Engine"] == "aurora-postgresql"
        assert props["EngineVersion"] == ENGINE_VERSION.aurora_postgres_full_version
        assert props["EngineVersion"].split(".")[0] in {"16", "17"}
        assert props["StorageEncrypted"] is True
        assert props["DatabaseName"] == c.DATABASE_NAME
        assert props["ServerlessV2ScalingConfiguration"] == {
            "MinCapacity": settings.db_min_acu,
            "MaxCapacity": settings.db_max_acu,
        }
        assert props["DeletionProtection"] is settings.protect_data
        instances = synth.resources(stage, "AWS::RDS::DBInstance").values()
        assert len(instances) == 1 + settings.db_readers
        assert {i["Properties"]["DBInstanceClass"] for i in instances} == {"db.serverless"}
        _, proxy = synth.one(stage, "AWS::RDS::DBProxy")
        assert proxy["Properties"]["EngineFamily"] == "POSTGRESQL"
        assert proxy["Properties"]["RequireTLS"] is True
    # prod rotates the admin secret; dev does not
    assert synth.resources("prod", "AWS::SecretsManager::RotationSchedule")
    assert not synth.resources("dev", "AWS::SecretsManager::RotationSchedule")


def test_migrations_custom_resource_runs_the_runner_after_the_cluster_exists(synth: Synth) -> None:
    # Given the migrations custom resource
    _, resource = synth.one("dev", "Custom::LuxxonMigrations")
    cluster_id, _ = synth.one("dev", "AWS::RDS::DBCluster")
    # Then it changes whenever a migration file changes (so CloudFormation sends an Update that applies it)
    assert resource["Properties"]["MigrationsHash"] == tree_hash(c.MIGRATIONS_DIR)
    # And it waits for the cluster and its writer
    writer_ids = list(synth.resources("dev", "AWS::RDS::DBInstance"))
    assert {cluster_id, *writer_ids} <= set(resource["DependsOn"])
    # And its handler runs luxxon.db.migrate with the layer, in the VPC, with the admin secret
    _, function = function_by_handler(synth, "dev")[c.MIGRATIONS_HANDLER]
    assert function["Properties"]["Layers"]
    assert function["Properties"]["Environment"]["Variables"][c.ENV_DATABASE_SECRET_ARN]
    assert (_asset_dir(synth, function["Properties"]) / "runtime" / "migrations.py").is_file()
    # And PostGIS comes from the first migration
    first = sorted(c.MIGRATIONS_DIR.glob("*.sql"))[0].read_text()
    assert "CREATE EXTENSION IF NOT EXISTS postgis" in first


# --- decoder ----------------------------------------------------------------------------------------------------


def test_decoder_service_runs_the_dockerfile_image_asset_and_scales_on_cpu_and_backlog(synth: Synth) -> None:
    _, task = synth.one("dev", "AWS::ECS::TaskDefinition")
    (container,) = task["Properties"]["ContainerDefinitions"]
    image = json.dumps(container["Image"])
    assert "cdk-hnb659fds-container-assets" in image
    manifest = json.loads((synth.outdir / "Luxxon-dev.assets.json").read_text())
    (asset,) = manifest["dockerImages"].values()
    assert asset["source"]["dockerFile"] == c.DECODER_DOCKERFILE
    assert asset["source"]["platform"] == ("linux/amd64" if c.ARCHITECTURE == "x86_64" else "linux/arm64")
    assert list(asset["destinations"].values())[0]["imageTag"] in image
    assert (synth.outdir / asset["source"]["directory"] / c.DECODER_DOCKERFILE).is_file()
    assert task["Properties"]["RuntimePlatform"]["CpuArchitecture"] == c.ARCHITECTURE.upper()

    policies = synth.resources("dev", "AWS::ApplicationAutoScaling::ScalingPolicy").values()
    kinds = {p["Properties"]["PolicyType"] for p in policies}
    assert kinds == {"TargetTrackingScaling", "StepScaling"}
    cpu = next(p for p in policies if p["Properties"]["PolicyType"] == "TargetTrackingScaling")
    spec = cpu["Properties"]["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"]
    assert spec["PredefinedMetricType"] == "ECSServiceAverageCPUUtilization"
    backlog_alarms = [
        a["Properties"]
        for a in synth.resources("dev", "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == c.DECODER_BACKLOG_METRIC
    ]
    assert {a["Namespace"] for a in backlog_alarms} == {c.METRICS_NAMESPACE}
    assert len(backlog_alarms) == 2  # the step-scaling trigger and the decoder-lag alarm


def test_decoder_image_context_leaves_out_the_node_toolchain(synth: Synth) -> None:
    """Node, the CDK CLI, solc and anvil (layers/contracts/node_modules, ~270 MB) are build tools: not uploaded to
    Docker, not in the image, not in the asset hash."""
    assert (c.REPO_ROOT / "layers" / "contracts" / "node_modules").is_dir()
    manifest = json.loads((synth.outdir / "Luxxon-dev.assets.json").read_text())
    (asset,) = manifest["dockerImages"].values()

    context = synth.outdir / asset["source"]["directory"]

    assert (context / "layers" / "luxxon").is_dir() and (context / "layers" / "contracts" / "src").is_dir()
    assert not (context / "layers" / "contracts" / "node_modules").exists()


# --- frames, network, IAM -----------------------------------------------------------------------------------------


def test_frames_store_is_s3_with_a_lifecycle_rule_or_redis_per_configuration(synth: Synth) -> None:
    _, bucket = synth.one("dev", "AWS::S3::Bucket")
    (rule,) = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == 1 and rule["Status"] == "Enabled"
    assert not synth.resources("dev", "AWS::ElastiCache::ReplicationGroup")
    bucket_id, _ = synth.one("dev", "AWS::S3::Bucket")
    object_grants = [
        statement
        for _, statement in statements(synth.templates["dev"])
        if {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, f"/{c.FRAMES_PREFIX}*"]]}
        in as_list(statement["Resource"])
    ]
    readers = [s for s in object_grants if as_list(s["Action"]) == ["s3:GetObject"]]
    writers = [s for s in object_grants if "s3:PutObject" in as_list(s["Action"])]
    # the routes that declare FRAMES read (GET /sessions/{id}/frame), the decoder writes
    assert len(readers) == len([route for route in ROUTES if FRAMES in route.needs]) >= 1
    assert len(writers) == 1

    _, redis = synth.one("prod", "AWS::ElastiCache::ReplicationGroup")
    props = redis["Properties"]
    assert props["TransitEncryptionEnabled"] is True and props["AtRestEncryptionEnabled"] is True
    assert "{{resolve:secretsmanager:" in json.dumps(props["AuthToken"])
    assert not synth.resources("prod", "AWS::S3::Bucket")


def _ingress(template: dict[str, Any]) -> list[dict[str, Any]]:
    rules = []
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::EC2::SecurityGroupIngress":
            rules.append(resource["Properties"])
        elif resource["Type"] == "AWS::EC2::SecurityGroup":
            rules += [{**r, "GroupId": "inline"} for r in resource["Properties"].get("SecurityGroupIngress", [])]
    return rules


def _port(template: dict[str, Any], rule: dict[str, Any]) -> int:
    """A rule's port; CDK writes the cluster's own rules as `Fn::GetAtt [Cluster, Endpoint.Port]`."""
    assert rule["FromPort"] == rule["ToPort"]
    port = rule["FromPort"]
    if isinstance(port, dict):
        cluster_id, attribute = port["Fn::GetAtt"]
        assert attribute == "Endpoint.Port"
        port = template["Resources"][cluster_id]["Properties"]["Port"]
    assert isinstance(port, int)
    return port


def test_security_groups_open_only_the_database_and_cache_paths(synth: Synth) -> None:
    for stage in ("dev", "prod"):
        template = synth.templates[stage]
        groups = synth.resources(stage, "AWS::EC2::SecurityGroup")
        by_description = {g["Properties"]["GroupDescription"].split(":")[0]: gid for gid, g in groups.items()}
        rules = _ingress(template)
        # Nothing is reachable from the internet or from a CIDR: every ingress names a source security group
        assert all("SourceSecurityGroupId" in rule for rule in rules), rules
        allowed = {
            (rule["GroupId"]["Fn::GetAtt"][0], rule["SourceSecurityGroupId"]["Fn::GetAtt"][0], _port(template, rule))
            for rule in rules
        }
        proxy, cluster = by_description["RDS Proxy"], by_description["Aurora cluster"]
        functions, decoder = by_description["Lambda functions of the API"], by_description["Decoder tasks"]
        frame_readers = by_description["Lambda functions reading frames"]
        migrations = by_description["Migrations function"]
        expected = {
            (proxy, functions, c.DATABASE_PORT),
            (proxy, frame_readers, c.DATABASE_PORT),
            (proxy, decoder, c.DATABASE_PORT),
            (cluster, proxy, c.DATABASE_PORT),
            (cluster, migrations, c.DATABASE_PORT),
        }
        if stage == "prod":
            redis = by_description["Frames Redis"]
            expected |= {
                (redis, frame_readers, c.REDIS_PORT),  # only the frame readers reach Redis, not every API function
                (redis, decoder, c.REDIS_PORT),
                (cluster, by_description["Secret rotation"], c.DATABASE_PORT),
            }
        assert allowed == expected
        # And the functions' groups send only HTTPS out, plus PostgreSQL (and Redis) to those groups
        for group in (functions, frame_readers):
            egress = groups[group]["Properties"]["SecurityGroupEgress"]
            assert [(r["CidrIp"], r["FromPort"]) for r in egress] == [("0.0.0.0/0", 443)]


def test_no_iam_statement_has_a_wildcard_action_or_a_star_resource_on_data(synth: Synth) -> None:
    for stage, template in synth.templates.items():
        found = statements(template)
        assert found
        for logical_id, statement in found:
            actions = as_list(statement["Action"])
            assert not [a for a in actions if "*" in a], (stage, logical_id, actions)
            if "*" in as_list(statement.get("Resource", [])):
                assert set(actions) <= STAR_RESOURCE_ACTIONS, (stage, logical_id, actions)


def test_every_log_group_has_the_stage_retention_and_every_function_logs_to_one(synth: Synth) -> None:
    for stage in ("dev", "prod"):
        days = c.stage_settings(stage).log_retention_days
        groups = synth.resources(stage, "AWS::Logs::LogGroup")
        assert {g["Properties"].get("RetentionInDays") for g in groups.values()} == {days}
        for logical_id, function in synth.resources(stage, "AWS::Lambda::Function").items():
            group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
            assert group in groups, logical_id


def test_tracing_is_active_on_every_python_function_and_the_api(synth: Synth) -> None:
    for stage in STAGES:
        for handler, (logical_id, function) in function_by_handler(synth, stage).items():
            if function["Properties"]["Runtime"].startswith("python"):
                assert function["Properties"]["TracingConfig"] == {"Mode": "Active"}, (handler, logical_id)
    synth.assertions["prod"].has_resource_properties("AWS::ApiGateway::Stage", {"TracingEnabled": True})


def test_alarms_watch_5xx_rate_function_errors_and_decoder_lag_and_notify_the_topic(synth: Synth) -> None:
    topic_id, _ = synth.one("dev", "AWS::SNS::Topic")
    alarms = [a["Properties"] for a in synth.resources("dev", "AWS::CloudWatch::Alarm").values()]
    notifying = [a for a in alarms if {"Ref": topic_id} in a.get("AlarmActions", [])]
    by_metric = Counter(a.get("MetricName") for a in notifying)
    assert by_metric["5XXError"] == 1
    assert by_metric["Errors"] == len(ROUTES) + 3  # every route's function, the sweep, the relayer, the indexer
    assert by_metric[c.DECODER_BACKLOG_METRIC] == 1
    (rate,) = [a for a in notifying if a.get("MetricName") == "5XXError"]
    assert rate["Statistic"] == "Average" and 0 < rate["Threshold"] < 1


def test_the_sweep_runs_every_minute_and_retries_nothing(synth: Synth) -> None:
    # Given the sweep function and the schedule rules
    sweep_id, _ = function_by_handler(synth, "dev")[c.SWEEP_HANDLER]
    rules = synth.resources("dev", "AWS::Events::Rule").values()
    (rule,) = [r for r in rules if r["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": [sweep_id, "Arn"]}]
    # Then it runs every minute, and a missed tick is left to the next one
    assert rule["Properties"]["ScheduleExpression"] == "rate(1 minute)"
    retry = rule["Properties"]["Targets"][0]["RetryPolicy"]
    assert retry == {"MaximumEventAgeInSeconds": 60, "MaximumRetryAttempts": 0}


def test_outputs_tell_the_operator_where_things_are(synth: Synth) -> None:
    outputs = set(synth.templates["dev"]["Outputs"])
    assert {
        "ApiBaseUrl",
        "DatabaseSecretArn",
        "DatabaseProxyEndpoint",
        "CloudflareSecretName",
        "WebhookSecretName",
        "ChainSecretName",
        "RelayerKeySecretName",
        "SettlementQueueUrl",
        "SettlementDeadLetterQueueArn",
        "FramesBucketName",
        "AlarmTopicArn",
        "MigrationsApplied",
        "DecoderServiceName",
    } <= outputs
    assert "FramesRedisEndpoint" in synth.templates["prod"]["Outputs"]


# --- checks -------------------------------------------------------------------------------------------------------


def test_cdk_nag_findings_are_all_acknowledged_with_a_reason(synth: Synth) -> None:
    # Synth would have raised on an unacknowledged AwsSolutions error; what is acknowledged carries its reason.
    report = json.loads((synth.outdir / "validation-report.json").read_text())
    errors = [
        violation
        for plugin in report.get("pluginReports", [])
        for violation in plugin.get("violations", [])
        if violation.get("severity") == "error"
    ]
    assert errors == []
    acknowledged: dict[tuple[str, str], str] = {}  # (rule, construct path) -> reason
    for stack in ("Luxxon-dev", "Luxxon-prod"):
        for path, entries in stack_metadata(synth, stack).items():
            for entry in entries:
                if entry["type"] == "aws:cdk:acknowledged-rules":
                    acknowledged |= {(rule, path): reason for rule, reason in entry["data"].items()}
    assert acknowledged
    assert all(len(reason) > 40 for reason in acknowledged.values()), acknowledged
    rules = Counter(rule.split("[")[0].split("::")[-1] for rule, _ in acknowledged if "AwsSolutions" in rule)
    print(f"\n[cdk-nag] acknowledged findings by rule (dev + prod): {dict(sorted(rules.items()))}")


def test_cfn_lint_reports_no_errors(synth: Synth) -> None:
    # One cfn-lint process per template, in parallel (each takes several seconds).
    runner = "import sys; from cfnlint.runner import main; sys.exit(main())"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", runner, "--format", "json", str(synth.outdir / f"Luxxon-{name}.template.json")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in STAGES
    ]
    matches = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=240)
        assert process.returncode in (0, 4, 8, 12), stderr  # exit bits: 2 errors, 4 warnings, 8 informational
        matches += json.loads(stdout or "[]")
    levels = Counter(match["Level"] for match in matches)
    rules = Counter(match["Rule"]["Id"] for match in matches)
    print(f"\n[cfn-lint] {dict(levels)} by rule {dict(rules)}")
    assert levels["Error"] == 0, [m for m in matches if m["Level"] == "Error"]


# --- the migrations handler ---------------------------------------------------------------------------------------


class _Context:
    function_name = "migrations"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:migrations"
    aws_request_id = "request-1"


def test_migrations_handler_applies_on_create_and_update_and_leaves_the_schema_on_delete(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from infra.runtime import migrations

    # Given the admin secret RDS attached to the cluster, and a runner that records where it connects
    secret = {"host": "writer.cluster", "port": 5432, "username": "admin", "password": "pw", "dbname": "luxxon"}
    monkeypatch.setenv(c.ENV_DATABASE_SECRET_ARN, "arn:aws:secretsmanager:us-east-1:1:secret:db")
    monkeypatch.setattr(migrations, "read_json_secret", lambda *_, **__: secret)
    calls: list[str] = []

    def migrate(conninfo: str) -> list[str]:
        calls.append(conninfo)
        return ["0001_init"]

    monkeypatch.setattr(migrations, "migrate", migrate)
    # When CloudFormation creates, then updates, then deletes the resource
    created = migrations.on_event({"RequestType": "Create"}, _Context())
    updated = migrations.on_event({"RequestType": "Update", "PhysicalResourceId": "luxxon-schema"}, _Context())
    deleted = migrations.on_event({"RequestType": "Delete", "PhysicalResourceId": "luxxon-schema"}, _Context())
    # Then create and update run the migrations against the writer over TLS, and delete runs nothing
    assert len(calls) == 2
    assert all("host=writer.cluster" in conninfo and "sslmode=require" in conninfo for conninfo in calls)
    assert created == updated == {"PhysicalResourceId": "luxxon-schema", "Data": {"Applied": "0001_init"}}
    assert deleted == {"PhysicalResourceId": "luxxon-schema"}
