"""Least privilege per route: each API function gets exactly what its row of the route table declares in `needs`.

Functions are identified by their handler string (`functions.<module>.lambda_handler`); the decoder by its task role.
The functions outside the route table (sweep, relayer, indexer) are held to what their capability grants.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from infra import constants as c
from luxxon.routes import CHAIN, DATABASE, FRAMES, ROUTES, SETTLEMENT, VIDEO, WEBHOOK_SECRET, Route
from tests.infra.synthesized import SETTINGS, STAGES, Synth, as_list, function_by_handler, statements

pytestmark = pytest.mark.infra

DECODER = "decoder"
PUBLIC = ("functions.health.get", "functions.docs.openapi", "functions.docs.page")
# What the issue names, written out so a change to the route table that widens them shows up here.
CLOUDFLARE_READERS = (
    "functions.sessions.start",
    "functions.sessions.cancel",
    "functions.sessions.cancel_all",
    "functions.sessions.end",
)
WEBHOOK_READERS = ("functions.webhooks.stream",)
FRAME_READERS = ("functions.sessions.frame",)
CHAIN_READERS = (
    "functions.sessions.create",
    "functions.settlements.get",
    "functions.wallet.get",
)  # eth_call reads; never the relayer's key
SETTLEMENT_SENDERS = ("functions.sessions.end",)  # the one route that ends a metered session
DATA_RESOURCE_TYPES = (
    "AWS::SecretsManager::Secret",
    "AWS::SecretsManager::SecretTargetAttachment",
    "AWS::RDS::DBCluster",
    "AWS::RDS::DBProxy",
    "AWS::S3::Bucket",
    "AWS::ElastiCache::ReplicationGroup",
    "AWS::SQS::Queue",
)


def _handler(module: str) -> str:
    return f"{module}.lambda_handler"


def _routes(need: str) -> set[str]:
    return {_handler(route.module) for route in ROUTES if need in route.needs}


def _principals(synth: Synth, stage: str) -> dict[str, str]:
    """IAM role logical id -> who runs with it: a function's handler string, or `decoder` for the task role."""
    functions = _functions(synth, stage)
    names = {fn["Properties"]["Role"]["Fn::GetAtt"][0]: handler for handler, (_, fn) in functions.items()}
    _, task = synth.one(stage, "AWS::ECS::TaskDefinition")
    names[task["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0]] = DECODER
    return names


def _functions(synth: Synth, stage: str) -> dict[str, tuple[str, dict[str, Any]]]:
    return function_by_handler(synth, stage)


def _grants(synth: Synth, stage: str) -> dict[str, list[dict[str, Any]]]:
    """Who -> every IAM statement its role holds (inline policies, the role's own, attached managed policies)."""
    template = synth.templates[stage]
    resources = template["Resources"]
    names = _principals(synth, stage)
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for logical_id, statement in statements(template):
        resource = resources[logical_id]
        if resource["Type"] == "AWS::IAM::Policy":
            roles = [role["Ref"] for role in resource["Properties"]["Roles"]]
        elif resource["Type"] == "AWS::IAM::Role":
            roles = [logical_id]
        else:  # a managed policy: every role attaching it
            roles = [
                role_id
                for role_id, role in resources.items()
                if role["Type"] == "AWS::IAM::Role"
                and {"Ref": logical_id} in role["Properties"].get("ManagedPolicyArns", [])
            ]
        for role_id in roles:
            if role_id in names:
                found[names[role_id]].append(statement)
    return found


def _referenced(value: Any) -> set[str]:
    """Logical ids a template fragment points at (Ref and Fn::GetAtt, at any depth)."""
    if isinstance(value, dict):
        found: set[str] = set()
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                found.add(inner[0])
            else:
                found |= _referenced(inner)
        return found
    if isinstance(value, list):
        return set().union(*(_referenced(inner) for inner in value)) if value else set()
    return set()


def _who_can(grants: dict[str, list[dict[str, Any]]], logical_id: str, action: str) -> set[str]:
    return {
        who
        for who, found in grants.items()
        for statement in found
        if action in as_list(statement["Action"]) and logical_id in _referenced(statement.get("Resource"))
    }


def _secret(synth: Synth, stage: str, name: str) -> str:
    (logical_id,) = [
        logical_id
        for logical_id, secret in synth.resources(stage, "AWS::SecretsManager::Secret").items()
        if secret["Properties"].get("Name") == f"{c.APP_NAME}/{'prod' if stage == 'prod' else 'dev'}/{name}"
    ]
    return logical_id


def _sweep_and(handlers: tuple[str, ...] | set[str]) -> set[str]:
    return {_handler(module) for module in handlers} | {c.SWEEP_HANDLER}


def _env(function: dict[str, Any]) -> dict[str, Any]:
    variables: dict[str, Any] = function["Properties"]["Environment"]["Variables"]
    return variables


# --- the route table says what the issue says -------------------------------------------------------------------


def test_route_needs_name_the_routes_the_issue_lists() -> None:
    assert _routes(VIDEO) == {_handler(module) for module in CLOUDFLARE_READERS}
    assert _routes(WEBHOOK_SECRET) == {_handler(module) for module in WEBHOOK_READERS}
    assert _routes(FRAMES) == {_handler(module) for module in FRAME_READERS}
    assert _routes(CHAIN) == {_handler(module) for module in CHAIN_READERS}
    assert _routes(SETTLEMENT) == {_handler(module) for module in SETTLEMENT_SENDERS}
    assert all(not route.needs for route in ROUTES if route.module in PUBLIC)


# --- public routes ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_health_and_docs_run_outside_the_vpc_and_touch_no_data(synth: Synth, stage: str) -> None:
    # Given the functions of the routes that need nothing
    resources = synth.templates[stage]["Resources"]
    functions = _functions(synth, stage)
    grants = _grants(synth, stage)
    for module in PUBLIC:
        handler = _handler(module)
        _, function = functions[handler]
        props = function["Properties"]
        # Then they have no VPC attachment, so no security group and no VPC-access managed policy
        assert "VpcConfig" not in props, handler
        role = resources[props["Role"]["Fn::GetAtt"][0]]
        assert not role["Properties"].get("ManagedPolicyArns"), handler
        # And their roles reference no secret, database, bucket, cache or queue: their own log group and X-Ray only
        referenced = set().union(*(_referenced(statement.get("Resource")) for statement in grants[handler]))
        assert {resources[logical_id]["Type"] for logical_id in referenced} == {"AWS::Logs::LogGroup"}, handler
        assert not [t for t in DATA_RESOURCE_TYPES if t in {resources[i]["Type"] for i in referenced}]
        # And nothing in their environment points at a store
        env = props["Environment"]["Variables"]
        assert not {key for key in env if key.startswith("LX_") and key != c.ENV_STAGE}, (handler, env)


# --- secrets ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_only_start_cancel_cancel_all_end_and_the_sweep_read_the_cloudflare_secret(synth: Synth, stage: str) -> None:
    grants = _grants(synth, stage)
    readers = _who_can(grants, _secret(synth, stage, "cloudflare"), "secretsmanager:GetSecretValue")
    # (and the decoder task, which is not a function)
    assert readers - {DECODER} == _sweep_and(CLOUDFLARE_READERS)
    for handler, (_, function) in _functions(synth, stage).items():
        env = function["Properties"]["Environment"]["Variables"]
        assert (c.ENV_CLOUDFLARE_SECRET_ARN in env) is (handler in readers), handler


@pytest.mark.parametrize("stage", STAGES)
def test_only_the_webhook_reads_the_webhook_secret(synth: Synth, stage: str) -> None:
    grants = _grants(synth, stage)
    readers = _who_can(grants, _secret(synth, stage, "stream-webhook"), "secretsmanager:GetSecretValue")
    assert readers == {_handler(module) for module in WEBHOOK_READERS}  # the decoder no longer reads it either
    for handler, (_, function) in _functions(synth, stage).items():
        env = function["Properties"]["Environment"]["Variables"]
        assert (c.ENV_WEBHOOK_SECRET_ARN in env) is (handler in readers), handler


@pytest.mark.parametrize("stage", STAGES)
def test_the_chain_routes_the_relayer_and_the_indexer_read_the_rpc_url_and_know_the_contract(
    synth: Synth, stage: str
) -> None:
    # Given who may read the chain secret (the RPC URL)
    readers = _who_can(_grants(synth, stage), _secret(synth, stage, "chain"), "secretsmanager:GetSecretValue")
    # Then exactly the CHAIN routes and the two chain functions do
    chain_functions = {c.RELAYER_HANDLER, c.INDEXER_HANDLER}
    assert readers == {_handler(module) for module in CHAIN_READERS} | chain_functions
    settings = SETTINGS[stage]
    groups = synth.resources(stage, "AWS::EC2::SecurityGroup")
    for handler, (_, function) in _functions(synth, stage).items():
        env = _env(function)
        assert (c.ENV_CHAIN_SECRET_ARN in env) is (handler in readers), handler
        # (dev has no contract yet: the address is then unset everywhere, see test_settlement.py)
        assert env.get(c.ENV_CHAIN_SETTLEMENT_ADDRESS) == (settings.settlement_address if handler in readers else None)
        # And every reader checks the node serves the stage's chain (Base Sepolia for dev, Base for prod)
        assert env.get(c.ENV_CHAIN_ID) == (str(settings.chain_id) if handler in readers else None)
        if handler in readers:
            # And each reaches the RPC provider: in the app subnets (NAT) with HTTPS out
            (group_ref,) = function["Properties"]["VpcConfig"]["SecurityGroupIds"]
            egress = groups[group_ref["Fn::GetAtt"][0]]["Properties"]["SecurityGroupEgress"]
            assert ("0.0.0.0/0", 443) in [(rule["CidrIp"], rule["FromPort"]) for rule in egress], handler
    # And only the chain functions know how many confirmations make a settlement final
    confirming = {h for h, (_, fn) in _functions(synth, stage).items() if c.ENV_CHAIN_CONFIRMATIONS in _env(fn)}
    assert confirming == chain_functions
    _, indexer = _functions(synth, stage)[c.INDEXER_HANDLER]
    assert _env(indexer)[c.ENV_CHAIN_CONFIRMATIONS] == str(settings.chain_confirmations)
    assert _env(indexer)[c.ENV_CHAIN_START_BLOCK] == str(settings.chain_start_block)


@pytest.mark.parametrize("stage", STAGES)
def test_only_the_relayer_reads_the_relayer_key(synth: Synth, stage: str) -> None:
    # Given the relayer's private key secret
    key_id = _secret(synth, stage, "relayer-key")
    grants = _grants(synth, stage)
    # Then the relayer alone may read it, and knows where it is
    assert _who_can(grants, key_id, "secretsmanager:GetSecretValue") == {c.RELAYER_HANDLER}
    for handler, (_, function) in _functions(synth, stage).items():
        assert (c.ENV_RELAYER_KEY_SECRET_ARN in _env(function)) is (handler == c.RELAYER_HANDLER), handler
    # And no statement anywhere names it but the relayer's (no wildcard secret grant reaches it either)
    naming = {who for who, found in grants.items() for st in found if key_id in _referenced(st.get("Resource"))}
    assert naming == {c.RELAYER_HANDLER}


@pytest.mark.parametrize("stage", STAGES)
def test_the_database_routes_and_only_they_read_the_consistency_token_key(synth: Synth, stage: str) -> None:
    # Given the key that seals the consistency tokens (generated by Secrets Manager, never in the template)
    key_id = _secret(synth, stage, "consistency-token-key")
    secret = synth.resources(stage, "AWS::SecretsManager::Secret")[key_id]["Properties"]
    assert "SecretString" not in secret and secret["GenerateSecretString"]["PasswordLength"] >= 32
    # Then the API functions that answer writes (every route that reaches the database) read it and know where it is,
    # and nothing else does: not the sweep, the relayer, the indexer nor the decoder
    readers = _who_can(_grants(synth, stage), key_id, "secretsmanager:GetSecretValue")
    assert readers == _routes(DATABASE)
    for handler, (_, function) in _functions(synth, stage).items():
        assert (c.ENV_CONSISTENCY_KEY_SECRET_ARN in _env(function)) is (handler in readers), handler


# --- frames -------------------------------------------------------------------------------------------------------


def test_only_the_frame_route_and_the_decoder_read_frames_from_s3(synth: Synth) -> None:
    grants = _grants(synth, "dev")
    bucket_id, _ = synth.one("dev", "AWS::S3::Bucket")
    readers = _who_can(grants, bucket_id, "s3:GetObject")
    assert readers == {_handler(module) for module in FRAME_READERS} | {DECODER}
    assert _who_can(grants, bucket_id, "s3:PutObject") == {DECODER}
    for handler, (_, function) in _functions(synth, "dev").items():
        env = function["Properties"]["Environment"]["Variables"]
        assert (c.ENV_FRAMES_BUCKET in env) is (handler in readers), handler


def test_only_the_frame_route_and_the_decoder_read_frames_from_redis(synth: Synth) -> None:
    grants = _grants(synth, "prod")
    auth_id = _secret(synth, "prod", "redis-auth")
    readers = _who_can(grants, auth_id, "secretsmanager:GetSecretValue")
    assert readers == {_handler(module) for module in FRAME_READERS} | {DECODER}
    for handler, (_, function) in _functions(synth, "prod").items():
        env = function["Properties"]["Environment"]["Variables"]
        assert (c.ENV_REDIS_URL in env) is (handler in readers), handler


# --- database and network -----------------------------------------------------------------------------------------


def _proxy_clients(synth: Synth, stage: str) -> set[str]:
    """Security groups the RDS Proxy admits on 5432."""
    _, proxy = synth.one(stage, "AWS::RDS::DBProxy")
    (proxy_group,) = [ref["Fn::GetAtt"][0] for ref in proxy["Properties"]["VpcSecurityGroupIds"]]
    return {
        rule["Properties"]["SourceSecurityGroupId"]["Fn::GetAtt"][0]
        for rule in synth.resources(stage, "AWS::EC2::SecurityGroupIngress").values()
        if rule["Properties"]["GroupId"] == {"Fn::GetAtt": [proxy_group, "GroupId"]}
        and rule["Properties"]["FromPort"] == c.DATABASE_PORT
    }


def _route(handler: str) -> Route:
    (route,) = [route for route in ROUTES if _handler(route.module) == handler]
    return route


@pytest.mark.parametrize("stage", STAGES)
def test_every_database_route_is_in_the_vpc_and_reaches_the_proxy_and_no_other_route_is(
    synth: Synth, stage: str
) -> None:
    proxy_id, _ = synth.one(stage, "AWS::RDS::DBProxy")
    (attachment_id, _) = synth.one(stage, "AWS::SecretsManager::SecretTargetAttachment")
    clients = _proxy_clients(synth, stage)
    database_readers = _who_can(_grants(synth, stage), attachment_id, "secretsmanager:GetSecretValue")
    api_handlers = {_handler(route.module) for route in ROUTES}
    for handler, (_, function) in _functions(synth, stage).items():
        if handler not in api_handlers:
            continue
        route = _route(handler)
        props = function["Properties"]
        env = props["Environment"]["Variables"]
        if DATABASE in route.needs:
            # Then it runs in the app subnets with a security group the proxy admits, and knows the proxy
            groups = {ref["Fn::GetAtt"][0] for ref in props["VpcConfig"]["SecurityGroupIds"]}
            assert groups and groups <= clients, handler
            assert env[c.ENV_DATABASE_HOST] == {"Fn::GetAtt": [proxy_id, "Endpoint"]}, handler
            assert handler in database_readers, handler
        else:
            assert c.ENV_DATABASE_HOST not in env and handler not in database_readers, handler
        in_vpc = bool(route.needs & {DATABASE, FRAMES})
        assert ("VpcConfig" in props) is in_vpc, handler


@pytest.mark.parametrize("stage", STAGES)
def test_only_the_settlement_routes_and_the_sweep_send_to_the_settlement_queue(synth: Synth, stage: str) -> None:
    # Given the settlement queue and its dead-letter queue
    queues = synth.resources(stage, "AWS::SQS::Queue")
    (queue_id,) = [qid for qid, queue in queues.items() if "RedrivePolicy" in queue["Properties"]]
    grants = _grants(synth, stage)
    # Then the routes that end a metered session and the sweep (expiry, outbox redelivery) send to it, and know it;
    # the routes that only tear video down (cancel, cancel-all, start) do not
    senders = _who_can(grants, queue_id, "sqs:SendMessage")
    assert senders == _sweep_and(SETTLEMENT_SENDERS)
    for handler, (_, function) in _functions(synth, stage).items():
        assert (c.ENV_SETTLEMENT_QUEUE_URL in _env(function)) is (handler in senders), handler
    # And nobody sends to the dead-letter queue (SQS moves messages there itself)
    for dlq_id in set(queues) - {queue_id}:
        assert not _who_can(grants, dlq_id, "sqs:SendMessage")


def test_every_need_in_the_route_table_has_its_grant() -> None:
    from infra.constructs.api import GRANTS

    # (the API construct also refuses to synthesize a route whose need has no grant)
    needs = {need for route in ROUTES for need in route.needs}
    assert needs <= set(GRANTS) == {DATABASE, VIDEO, WEBHOOK_SECRET, FRAMES, CHAIN, SETTLEMENT}
