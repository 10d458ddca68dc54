"""The sweep: one Lambda on an EventBridge schedule every minute (expiry and outbox redelivery).

It ends overdue sessions and redelivers the outbox, stalled settlement requests included, so it sends to the
settlement queue. It also publishes what the settlement alarms watch: the age of the oldest ENDED session not yet
settled, the settlements that reached FAILED, the discrepancies between the chain and the database.
"""

from __future__ import annotations

from aws_cdk import Duration
from constructs import Construct

from infra import constants as c
from infra.constructs.common import Consumer, every_minute
from infra.constructs.platform import Platform


class Sweep(Construct):
    def __init__(self, scope: Construct, construct_id: str, platform: Platform) -> None:
        super().__init__(scope, construct_id)
        self.function = platform.functions.function(
            self,
            "Function",
            handler=c.SWEEP_HANDLER,
            description="Expiry sweep: times out waits, ends overdue sessions, retries the outbox",
            timeout=Duration.seconds(50),  # finishes before the next tick
        )
        consumer = Consumer.of_function(self.function)
        platform.database.connect(consumer)
        platform.secrets.grant_cloudflare(consumer)
        platform.settlement_senders.append(consumer)
        every_minute(self, self.function, "Runs the expiry sweep")
        platform.monitoring.watch_function(self.function, "sweep")
