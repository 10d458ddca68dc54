"""The sweep: one Lambda on an EventBridge schedule every minute (expiry and outbox redelivery)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from constructs import Construct

from infra import constants as c
from infra.constructs.common import Consumer
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
        platform.outbox_writers.append(consumer)
        events.Rule(
            self,
            "EveryMinute",
            description="Runs the expiry sweep",
            schedule=events.Schedule.rate(Duration.minutes(1)),
            # A missed tick is covered by the next one: no retries, no stale events.
            targets=[targets.LambdaFunction(self.function, retry_attempts=0, max_event_age=Duration.minutes(1))],
        )
        platform.monitoring.watch_function(self.function, "sweep")
