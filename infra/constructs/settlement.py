"""Settlement: an SQS queue with a dead-letter queue feeds the relayer Lambda, which settles on chain with web3.

The relayer uses Powertools' BatchProcessor, so the event source reports partial batch failures
(ReportBatchItemFailures): a failed record is retried alone and lands in the DLQ after MAX_RECEIVES tries. From there
the operator moves it back once the cause is fixed (`python -m luxxon.admin redrive-settlements`, SQS's
StartMessageMoveTask on the DLQ whose ARN the stack outputs). This capability comes after every capability whose code
sends to the queue (`platform.settlement_senders`: the API routes with the SETTLEMENT need, the sweep).

Only the relayer reads the relayer's private key; it reads the RPC URL like every chain reader.
"""

from __future__ import annotations

from aws_cdk import Annotations, CfnOutput, Duration
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
        settings = platform.settings
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
            description="Settlement relayer: settleFromPool on chain for each settlement request",
            timeout=RELAYER_TIMEOUT,
            chain=True,
        )
        relayer = Consumer.of_function(self.relayer)
        platform.database.connect(relayer)
        platform.read_chain(relayer)
        platform.secrets.grant_relayer_key(relayer)
        relayer.add_environment(c.ENV_CHAIN_CONFIRMATIONS, str(settings.chain_confirmations))
        self.relayer.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=10,
                report_batch_item_failures=True,
                max_concurrency=2,  # one signing key: keep nonce contention low (2 is SQS's least)
            )
        )
        for sender in platform.settlement_senders:
            self.queue.grant_send_messages(sender.grantee)
            sender.add_environment(c.ENV_SETTLEMENT_QUEUE_URL, self.queue.queue_url)
        if settings.settlement_address is None:
            Annotations.of(self).add_warning_v2(
                "luxxon:settlementAddress",
                f"{settings.name}: no settlement contract address, so nothing settles and the chain reads fail. "
                "Pass -c settlement_address=0x... -c settlement_start_block=N, or write both in infra/constants.py.",
            )
        platform.monitoring.watch_function(self.relayer, "relayer")
        platform.monitoring.watch_queue_depth(self.dead_letters, "Settlement")
        platform.monitoring.watch_settlement(self, min_relayer_balance_eth=settings.relayer_min_balance_eth)
        CfnOutput(scope, "SettlementQueueUrl", value=self.queue.queue_url)
        CfnOutput(
            scope,
            "SettlementDeadLetterQueueArn",
            value=self.dead_letters.queue_arn,
            description="Failed settlement requests; redrive with `python -m luxxon.admin redrive-settlements`",
        )
