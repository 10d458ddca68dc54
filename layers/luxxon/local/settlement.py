"""The settlement plane of the local system: SQS (moto's server), the relayer fed like Lambda's event source mapping,
and the indexer on a short schedule.

- `start_sqs()` runs moto in server mode on 127.0.0.1 (the SQS wire protocol; boto3 reaches it through
  AWS_ENDPOINT_URL_SQS) and `create_queues()` makes the settlement queue and its dead-letter queue (after
  MAX_RECEIVES receives), as the CDK app does.
- `SqsPoller` receives batches of up to 10 and hands each to the relayer's `lambda_handler` as the SQS event Lambda
  would build, then deletes the records the handler did not report as failures (`batchItemFailures`); the others
  come back after the visibility timeout, and go to the dead-letter queue after MAX_RECEIVES.
"""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

REGION = "us-east-1"
MAX_RECEIVES = 5
VISIBILITY_TIMEOUT_S = 10
START_TIMEOUT_S = 20.0
# moto needs credentials to sign with; they are not checked (the processes the local system starts inherit these).
AWS_ENV = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": REGION}


def start_sqs(port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"moto's server exited with {process.returncode}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    return process
            time.sleep(0.1)
        raise RuntimeError(f"moto's server did not listen on 127.0.0.1:{port}")
    except BaseException:  # a Ctrl-C while it starts, too: the caller never gets it to stop
        process.terminate()
        process.wait()
        raise


def client(endpoint: str) -> Any:
    from luxxon.adapters.queue import local_client

    return local_client(endpoint)


def create_queues(sqs: Any, name: str = "luxxon-settlement") -> str:
    """The settlement queue with its dead-letter queue; returns the queue's URL."""
    dead_letters = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dead_letters, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVES)})
    attributes = {"VisibilityTimeout": str(VISIBILITY_TIMEOUT_S), "RedrivePolicy": policy}
    return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping delivers for these received messages."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m.get("MD5OfBody") or hashlib.md5(m["Body"].encode()).hexdigest(),  # noqa: S324
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
            for m in messages
        ]
    }


class SqsPoller:
    """Lambda's event source mapping in miniature: receive, invoke, delete what succeeded."""

    def __init__(self, sqs: Any, queue_url: str, invoke: Callable[[dict[str, Any]], Any], batch: int = 10) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.invoke = invoke
        self.batch = batch
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
        self.queue_arn = attributes["QueueArn"]

    def poll_once(self, wait_s: int = 1) -> int:
        """One receive → invoke → delete round. Returns how many messages succeeded."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch,
            WaitTimeSeconds=wait_s,
            AttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        result = self.invoke(sqs_event(messages, self.queue_arn)) or {}
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        for m in done:
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
        return len(done)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.poll_once()
            except Exception as error:  # noqa: BLE001 - like the event source mapping: log, back off, go on
                if stop.is_set():  # the local system is stopping: SQS or the gateway's workers are going away
                    return
                print(f"relayer poll failed: {error}", flush=True)
                stop.wait(1.0)


def every(interval_s: float, fn: Callable[[], Any], stop: threading.Event, name: str) -> None:
    while not stop.wait(interval_s):
        try:
            fn()
        except Exception as error:  # noqa: BLE001 - retried on the next tick
            if not stop.is_set():  # else the local system is stopping: what `fn` needs is going away
                print(f"{name} failed: {error}", flush=True)
