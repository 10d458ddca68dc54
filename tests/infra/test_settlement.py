"""The settlement plane: the chain layer, the relayer on its queue, the indexer on its schedule, their alarms."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from infra import constants as c
from infra.constructs.monitoring import SETTLEMENT_STALL_SECONDS
from infra.constructs.settlement import MAX_RECEIVES, RELAYER_TIMEOUT
from tests.infra.synthesized import SETTINGS, STAGES, Synth, function_by_handler, layer_ids, stack_metadata

pytestmark = pytest.mark.infra

CHAIN_FUNCTIONS = (c.RELAYER_HANDLER, c.INDEXER_HANDLER)
UNZIPPED_LIMIT = 250 * 1024 * 1024  # Lambda: a function's code and all its layers, unzipped
# The environment markers of Lambda's Python runtime, to read the layers' requirements as pip did for it.
LAMBDA_MARKERS = {
    "python_version": c.PYTHON_VERSION,
    "python_full_version": f"{c.PYTHON_VERSION}.0",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64" if c.ARCHITECTURE == "x86_64" else "aarch64",
    "os_name": "posix",
    "extra": "",
}


def _asset_dir(synth: Synth, resource: dict[str, Any]) -> Path:
    props = resource["Properties"]
    key = props["Content"]["S3Key"] if "Content" in props else props["Code"]["S3Key"]
    return synth.outdir / f"asset.{key.removesuffix('.zip')}"


def _files(root: Path) -> set[Path]:
    return {path.relative_to(root) for path in root.rglob("*") if path.is_file()}


def _alarms(synth: Synth, stage: str) -> dict[str, dict[str, Any]]:
    """Metric name -> the properties of the one alarm on it that notifies the topic."""
    topic_id, _ = synth.one(stage, "AWS::SNS::Topic")
    found: dict[str, dict[str, Any]] = {}
    for alarm in synth.resources(stage, "AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        if {"Ref": topic_id} in props.get("AlarmActions", []) and props.get("MetricName") not in ("Errors", None):
            assert props["MetricName"] not in found, props["MetricName"]
            found[props["MetricName"]] = props
    return found


# --- the chain layer ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_only_the_relayer_and_the_indexer_carry_the_chain_layer(synth: Synth, stage: str) -> None:
    # Given the two layers of the stack
    layers = layer_ids(synth, stage)
    shared, chain = {"Ref": layers["shared"]}, {"Ref": layers["chain"]}
    # Then the relayer and the indexer run with the shared layer and the chain layer on top
    for handler, (_, function) in function_by_handler(synth, stage).items():
        if handler in CHAIN_FUNCTIONS:
            assert function["Properties"]["Layers"] == [shared, chain], handler
        else:
            # And no other function (the API's, the sweep, the migrations) pays web3's size and import time
            assert chain not in function["Properties"].get("Layers", []), handler


def test_the_chain_layer_ships_web3_and_no_file_of_the_shared_layer(synth: Synth) -> None:
    # Given both layers' assets
    resources = synth.templates["dev"]["Resources"]
    layers = layer_ids(synth, "dev")
    shared = _asset_dir(synth, resources[layers["shared"]]) / "python"
    chain = _asset_dir(synth, resources[layers["chain"]]) / "python"
    # Then the chain layer holds web3 and eth-account, built for the Lambda runtime
    assert (chain / "web3").is_dir() and (chain / "eth_account").is_dir()
    arch = "x86_64" if c.ARCHITECTURE == "x86_64" else "aarch64"
    assert list(chain.glob(f"ckzg.cpython-{c.PYTHON_VERSION.replace('.', '')}-{arch}-linux-gnu.so"))
    # And not one file that the shared layer ships (Lambda would overwrite it): pydantic is the shared one
    assert not _files(shared) & _files(chain)
    assert not (chain / "pydantic").exists() and (shared / "pydantic").is_dir()
    # And every distribution in the two layers finds the versions it requires there
    distributions = {
        canonicalize_name(dist.metadata["Name"]): dist
        for dist in importlib.metadata.distributions(path=[str(shared), str(chain)])
    }
    unmet = []
    for name, dist in distributions.items():
        for requirement in map(Requirement, dist.requires or []):
            if requirement.marker is not None and not requirement.marker.evaluate(LAMBDA_MARKERS):
                continue
            found = distributions.get(canonicalize_name(requirement.name))
            if found is None or not requirement.specifier.contains(found.version, prereleases=True):
                unmet.append((name, str(requirement), found and found.version))
    assert not unmet
    # And a chain function's code and layers fit Lambda's unzipped limit
    _, relayer = function_by_handler(synth, "dev")[c.RELAYER_HANDLER]
    code = _asset_dir(synth, relayer)
    size = sum(path.stat().st_size for root in (shared, chain, code) for path in root.rglob("*") if path.is_file())
    assert size < UNZIPPED_LIMIT


# --- the relayer and its queues -------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_the_relayer_consumes_the_queue_with_partial_batch_failures_and_a_dead_letter_queue(
    synth: Synth, stage: str
) -> None:
    # Given the relayer, its event source and the queues
    relayer_id, relayer = function_by_handler(synth, stage)[c.RELAYER_HANDLER]
    _, mapping = synth.one(stage, "AWS::Lambda::EventSourceMapping")
    queues = synth.resources(stage, "AWS::SQS::Queue")
    ((queue_id, queue),) = [(qid, q) for qid, q in queues.items() if "RedrivePolicy" in q["Properties"]]
    # Then the relayer reads the settlement queue in batches and reports which records failed (only those retry)
    props = mapping["Properties"]
    assert props["FunctionName"] == {"Ref": relayer_id}
    assert props["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BatchSize"] == 10
    assert props["ScalingConfig"] == {"MaximumConcurrency": 2}
    # And a request that fails MAX_RECEIVES times moves to the dead-letter queue, kept 14 days for the redrive
    redrive = queue["Properties"]["RedrivePolicy"]
    assert redrive["maxReceiveCount"] == MAX_RECEIVES
    dlq_id = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert queues[dlq_id]["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    # And a message stays invisible while the relayer may still be working on it
    assert queue["Properties"]["VisibilityTimeout"] >= 6 * relayer["Properties"]["Timeout"]
    assert relayer["Properties"]["Timeout"] == RELAYER_TIMEOUT.to_seconds()
    # And the operator learns where the dead letters are (for `luxxon.admin redrive-settlements`)
    output = synth.templates[stage]["Outputs"]["SettlementDeadLetterQueueArn"]
    assert output["Value"] == {"Fn::GetAtt": [dlq_id, "Arn"]}


# --- the indexer ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_the_indexer_follows_the_chain_every_minute(synth: Synth, stage: str) -> None:
    # Given the indexer and the schedule rules
    indexer_id, indexer = function_by_handler(synth, stage)[c.INDEXER_HANDLER]
    rules = synth.resources(stage, "AWS::Events::Rule").values()
    (rule,) = [r for r in rules if r["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": [indexer_id, "Arn"]}]
    # Then it runs every minute, finishing before the next tick, in the VPC (the database) with egress (the RPC)
    assert rule["Properties"]["ScheduleExpression"] == "rate(1 minute)"
    assert rule["Properties"]["Targets"][0]["RetryPolicy"]["MaximumRetryAttempts"] == 0
    assert indexer["Properties"]["Timeout"] < 60
    assert indexer["Properties"]["VpcConfig"]["SubnetIds"]


# --- alarms ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_alarms_watch_dead_letters_gas_stalls_failures_and_discrepancies(synth: Synth, stage: str) -> None:
    # Given the alarms that notify the topic, by metric
    alarms = _alarms(synth, stage)
    settings = SETTINGS[stage]
    service = [{"Name": "service", "Value": c.SERVICE_NAME}]
    # Then any message in the settlement dead-letter queue alarms
    queues = synth.resources(stage, "AWS::SQS::Queue")
    (dlq_id,) = [qid for qid, q in queues.items() if "RedrivePolicy" not in q["Properties"]]
    depth = alarms["ApproximateNumberOfMessagesVisible"]
    assert depth["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_id, "QueueName"]}}]
    assert (depth["ComparisonOperator"], depth["Threshold"]) == ("GreaterThanOrEqualToThreshold", 1)
    # And the relayer's gas balance under the stage's floor alarms, and stays alarmed until a batch shows a refill
    gas = alarms[c.RELAYER_BALANCE_METRIC]
    assert (gas["Namespace"], gas["Dimensions"], gas["Statistic"]) == (c.METRICS_NAMESPACE, service, "Minimum")
    assert (gas["ComparisonOperator"], gas["Threshold"]) == ("LessThanThreshold", settings.relayer_min_balance_eth)
    assert gas["TreatMissingData"] == "ignore"
    # And an ENDED session left unsettled for 15 minutes alarms
    stall = alarms[c.OLDEST_UNSETTLED_METRIC]
    assert (stall["Namespace"], stall["Dimensions"], stall["Statistic"]) == (c.METRICS_NAMESPACE, service, "Maximum")
    assert (stall["ComparisonOperator"], stall["Threshold"]) == ("GreaterThanOrEqualToThreshold", 900)
    assert SETTLEMENT_STALL_SECONDS == 900
    # And a single failed settlement or a single discrepancy with the chain alarms
    for metric in (c.SETTLEMENTS_FAILED_METRIC, c.SETTLEMENT_DISCREPANCIES_METRIC):
        count = alarms[metric]
        assert (count["Namespace"], count["Dimensions"], count["Statistic"]) == (c.METRICS_NAMESPACE, service, "Sum")
        assert (count["ComparisonOperator"], count["Threshold"]) == ("GreaterThanOrEqualToThreshold", 1), metric


# --- the contract's address -----------------------------------------------------------------------------------------


def test_the_settlement_contract_comes_from_context_and_is_checked() -> None:
    # Given a stage whose contract STAGES does not know yet
    assert c.stage_settings("prod").settlement_address is None
    # When the deploy passes the contract (`-c settlement_address=0x... -c settlement_start_block=N`)
    address = "0x" + "ab" * 20
    settings = c.stage_settings("prod", None, address, "21000000")
    # Then the stage settles against it from that block, with prod's confirmation depth
    assert (settings.settlement_address, settings.chain_start_block) == (address, 21_000_000)
    assert (settings.chain_confirmations, c.stage_settings("dev").chain_confirmations) == (10, 3)
    # And what is not an address or a block is refused at synth, not found at the first settlement
    with pytest.raises(ValueError, match="address"):
        c.stage_settings("prod", None, "0x1234")
    with pytest.raises(ValueError, match="negative"):
        c.stage_settings("prod", None, None, -1)


def _warnings(synth: Synth, stack: str) -> list[str]:
    entries = [entry for entries in stack_metadata(synth, stack).values() for entry in entries]
    return [str(entry["data"]) for entry in entries if entry["type"] == "aws:cdk:warning"]


def test_a_stage_without_a_contract_warns_at_synth_and_hands_no_address_out(synth: Synth) -> None:
    # Given dev, synthesized with no settlement contract, and prod, with one
    # Then dev's synth says so, and no function of dev gets an address (the code refuses to settle without one)
    assert [w for w in _warnings(synth, "Luxxon-dev") if "settlement_address" in w]
    assert not [w for w in _warnings(synth, "Luxxon-prod") if "settlement_address" in w]
    for handler, (_, function) in function_by_handler(synth, "dev").items():
        assert c.ENV_CHAIN_SETTLEMENT_ADDRESS not in function["Properties"]["Environment"]["Variables"], handler
    # And prod's chain functions settle against its contract from its deployment block
    _, indexer = function_by_handler(synth, "prod")[c.INDEXER_HANDLER]
    env = indexer["Properties"]["Environment"]["Variables"]
    assert env[c.ENV_CHAIN_SETTLEMENT_ADDRESS] == SETTINGS["prod"].settlement_address
    assert env[c.ENV_CHAIN_START_BLOCK] == "23000000"
