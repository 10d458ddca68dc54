"""The queue path as `make run` wires it: /end → outbox → SQS (moto's server, its real wire protocol) → the poller
(Lambda's event source mapping) → the relayer Lambda's handler (Powertools BatchProcessor, partial batch failures) →
the chain; the dead-letter queue after MAX_RECEIVES and the redrive command."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from luxxon import wiring_chain as chain_wiring
from luxxon.adapters.queue import redrive
from luxxon.local import settlement as local
from luxxon.local.gateway import LambdaContext
from tests.chain.driver import Chain
from tests.chain.plane import Plane, ended, reset_settings, settlement, with_wallet
from tests.conftest import Api, WorkspaceFactory


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def queue(chain: Chain, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str, Plane]]:
    plane = Plane.deploy(chain)
    port = _free_port()
    server = local.start_sqs(port)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        sqs = local.client(endpoint)
        url = local.create_queues(sqs)
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "0"})  # a failure comes back at once
        for name, value in {
            **local.AWS_ENV,
            "AWS_ENDPOINT_URL_SQS": endpoint,
            "LX_SETTLEMENT_QUEUE_URL": url,
            "LX_CHAIN_RPC_URL": chain.local.rpc_url,
            "LX_CHAIN_SETTLEMENT_ADDRESS": plane.address,
            "LX_RELAYER_KEY": plane.relayer_key,
        }.items():
            monkeypatch.setenv(name, value)
        reset_settings()
        chain_wiring.reset()
        yield sqs, url, plane
    finally:
        server.terminate()
        server.wait(10)
        monkeypatch.undo()
        reset_settings()
        chain_wiring.reset()


def _relayer_lambda(event: dict[str, Any]) -> Any:
    from functions.relayer.handler import lambda_handler

    return lambda_handler(event, LambdaContext("relayer", "test"))


def test_end_reaches_the_relayer_through_sqs_and_settles(
    api: Api, workspace: WorkspaceFactory, chain: Chain, queue: tuple[Any, str, Plane]
) -> None:
    sqs, url, plane = queue
    consumer, consumer_wallet = with_wallet(workspace, chain, "CONSUMER")
    operator, _ = with_wallet(workspace, chain, "SUPPLIER")
    plane.fund(consumer_wallet, 10_000_000)
    # /end delivers the settlement request to the queue right after its commit
    done = [ended(api, consumer, operator, 3 + i) for i in range(3)]
    poller = local.SqsPoller(sqs, url, _relayer_lambda)
    handled = 0
    while handled < 3:
        got = poller.poll_once(wait_s=1)
        assert got > 0, "a settlement request is missing from the queue"
        handled += got
    chain.rpc("evm_mine")
    plane.indexer().run()
    for s in done:
        view = settlement(api, consumer.key, s["id"]).data
        assert (view["status"], view["amountMicroUsdc"]) == ("CONFIRMED", s["chargedMicroUsdc"])
    assert sorted(plane.settled_sessions()) == sorted(s["id"] for s in done)


def test_a_bad_message_fails_alone_reaches_the_dead_letter_queue_and_can_be_redriven(
    api: Api, workspace: WorkspaceFactory, chain: Chain, queue: tuple[Any, str, Plane]
) -> None:
    sqs, url, plane = queue
    consumer, consumer_wallet = with_wallet(workspace, chain, "CONSUMER")
    operator, _ = with_wallet(workspace, chain, "SUPPLIER")
    plane.fund(consumer_wallet, 10_000_000)
    sqs.send_message(QueueUrl=url, MessageBody="not json")
    done = ended(api, consumer, operator, 3)  # its request joins the bad one
    poller = local.SqsPoller(sqs, url, _relayer_lambda)
    results = [poller.poll_once(wait_s=0) for _ in range(local.MAX_RECEIVES + 2)]
    assert sum(results) == 1  # the good one succeeded once; the bad one never
    chain.rpc("evm_mine")
    plane.indexer().run()
    assert settlement(api, consumer.key, done["id"]).data["status"] == "CONFIRMED"
    # The bad message was received MAX_RECEIVES times and then moved to the dead-letter queue
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages", []) == []
    assert redrive(url, sqs) == 1
    (back,) = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)["Messages"]
    assert back["Body"] == "not json"


@pytest.mark.parametrize(
    "wrong",
    [
        pytest.param(lambda: {"LX_CHAIN_RPC_URL": f"http://127.0.0.1:{_free_port()}"}, id="the RPC is down"),
        pytest.param(lambda: {"LX_CHAIN_ID": "8453"}, id="the RPC serves another chain than LX_CHAIN_ID"),
    ],
)
def test_the_relayer_reports_every_record_for_retry_while_the_rpc_is_unusable(
    api: Api,
    workspace: WorkspaceFactory,
    chain: Chain,
    queue: tuple[Any, str, Plane],
    monkeypatch: pytest.MonkeyPatch,
    wrong: Callable[[], dict[str, str]],
) -> None:
    _, _, plane = queue
    consumer, consumer_wallet = with_wallet(workspace, chain, "CONSUMER")
    operator, _ = with_wallet(workspace, chain, "SUPPLIER")
    plane.fund(consumer_wallet, 10_000_000)
    done = ended(api, consumer, operator, 3)
    event = local.sqs_event(
        [
            {
                "MessageId": "m-1",
                "ReceiptHandle": "r-1",
                "Body": json.dumps({"sessionId": done["id"]}),
                "Attributes": {
                    "ApproximateReceiveCount": "1",
                    "ApproximateFirstReceiveTimestamp": "1",
                    "SenderId": "x",
                    "SentTimestamp": "1",
                },
            }
        ],
        "arn:aws:sqs:us-east-1:000000000000:luxxon-settlement",
    )
    for name, value in wrong().items():
        monkeypatch.setenv(name, value)
    reset_settings()
    chain_wiring.reset()
    assert _relayer_lambda(event) == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert settlement(api, consumer.key, done["id"]).data["status"] == "PENDING"
    assert plane.settled_sessions() == []
    # The RPC right again (and on the chain it should be): the same record goes through
    monkeypatch.setenv("LX_CHAIN_RPC_URL", chain.local.rpc_url)
    monkeypatch.setenv("LX_CHAIN_ID", str(chain.w3.eth.chain_id))
    reset_settings()
    chain_wiring.reset()
    assert _relayer_lambda(event) == {"batchItemFailures": []}
    assert plane.settled_sessions() == [done["id"]]
