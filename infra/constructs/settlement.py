"""Extension point: settlement. An SQS queue with a dead-letter queue feeds the relayer Lambda.

The relayer uses Powertools' BatchProcessor, so the event source reports partial batch failures
(ReportBatchItemFailures): a failed record is retried alone and lands in the DLQ after MAX_RECEIVES tries.
Not in the stack yet: enable it by adding `Settlement` to CAPABILITIES in infra/stack.py once its handler
(`infra.constants.RELAYER_HANDLER`) exists. It must come after the capabilities whose code sends to the queue.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import constants as c
from infra.constructs.common import Consumer
from infra.constructs.platform import Platform

RELAYER_TIMEOUT = Duration.seconds(60)
MAX_RECEIVES = 5


class Settlement(Construct):
    def __init__(self, scope: Construct, construct_id: str, platform: Platform) -> None:
        super().__init__(scope, construct_id)
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            retention_period=Duration.days(14),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            visibility_timeout=Duration.seconds(RELAYER_TIMEOUT.to_seconds() * 6),  # AWS guidance for Lambda
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letters, max_receive_count=MAX_RECEIVES),
        )
        self.relayer = platform.functions.function(
            self,
            "Relayer",
            handler=c.RELAYER_HANDLER,
            description="Settlement relayer: settleFromPool on chain for each settlement message",
            timeout=RELAYER_TIMEOUT,
        )
        relayer = Consumer.of_function(self.relayer)
        platform.database.connect(relayer)
        platform.secrets.grant_chain(relayer)
        self.relayer.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=10,
                report_batch_item_failures=True,
                max_concurrency=2,  # one signing key: keep nonce contention low
            )
        )
        for writer in platform.outbox_writers:
            self.queue.grant_send_messages(writer.grantee)
            writer.add_environment(c.ENV_SETTLEMENT_QUEUE_URL, self.queue.queue_url)
        platform.monitoring.watch_function(self.relayer, "relayer")
        platform.monitoring.watch_queue_depth(self.dead_letters, "Settlement")
        CfnOutput(scope, "SettlementQueueUrl", value=self.queue.queue_url)
