"""The settlement queue (SQS): one message per settlement request, `{"sessionId": …}`.

The relayer reads the terms from the settlement row, never from the message, so a duplicate or a stale message can
only cause a check. Locally the queue is moto's server (`AWS_ENDPOINT_URL_SQS`, set by `make run`)."""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.config import Config


class SqsSettlementQueue:
    def __init__(self, queue_url: str, client: Any | None = None) -> None:
        self.queue_url = queue_url
        # Short timeouts and two retries: a request sends after its commit; what fails waits for the sweep.
        self._client = client or boto3.client(
            "sqs", config=Config(connect_timeout=2, read_timeout=3, retries={"max_attempts": 2, "mode": "standard"})
        )

    def send(self, session_id: str) -> None:
        self._client.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps({"sessionId": session_id}))


def local_client(endpoint: str) -> Any:
    """A client of the local system's SQS (moto's server): it signs with placeholder credentials it does not check."""
    return boto3.client(
        "sqs", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local"
    )


def redrive(queue_url: str, client: Any | None = None) -> int:
    """Move every message of the queue's dead-letter queue (its RedrivePolicy's target) back to the queue.
    Each message is sent before it is deleted: a crash in between leaves a duplicate, never a loss (the relayer is
    idempotent). Returns how many were moved."""
    if not queue_url:
        raise SystemExit("LX_SETTLEMENT_QUEUE_URL is not set")
    sqs = client or boto3.client("sqs")
    policy = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])["Attributes"]
    dead_letter_arn = json.loads(policy["RedrivePolicy"])["deadLetterTargetArn"]
    account, name = dead_letter_arn.split(":")[4], dead_letter_arn.split(":")[5]
    dead_letters = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
    moved = 0
    while True:
        batch = sqs.receive_message(QueueUrl=dead_letters, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        if not batch:
            return moved
        for message in batch:
            sqs.send_message(QueueUrl=queue_url, MessageBody=message["Body"])
            sqs.delete_message(QueueUrl=dead_letters, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
