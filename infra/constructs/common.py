"""What every construct uses and no construct owns: the consumer a grant goes to, cdk-nag acknowledgements, log
retention, the every-minute schedule.

This module imports no construct, so any construct may import it without closing a cycle: the import graph of
`infra` stays acyclic (TYPE_CHECKING imports included).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_cdk import Acknowledgment, Duration, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.constants import StageSettings


@dataclass(frozen=True)
class Consumer:
    """Something that runs our code (a Lambda function, the decoder task): what a resource grants access to."""

    grantee: iam.IGrantable
    connections: ec2.Connections | None  # None: outside the VPC (a Lambda function with no VPC attachment)
    add_environment: Callable[[str, str], Any]

    def reach(self, peer: ec2.IConnectable, port: ec2.Port, description: str) -> None:
        """Open the network path to `peer` on `port` (egress here, ingress there); only from inside the VPC."""
        if self.connections is None:
            raise ValueError(f"{self.role.node.path}: outside the VPC, it cannot reach {description}")
        self.connections.allow_to(peer, port, description)

    @property
    def role(self) -> Construct:
        """The IAM role whose policy receives the grants (where a finding about that policy is acknowledged)."""
        principal = self.grantee.grant_principal
        assert isinstance(principal, Construct)
        return principal

    @classmethod
    def of_function(cls, function: lambda_.Function) -> Consumer:
        connections = function.connections if function.is_bound_to_vpc else None
        return cls(grantee=function, connections=connections, add_environment=function.add_environment)


_RETENTION = {
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    90: logs.RetentionDays.THREE_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}


def acknowledge(scope: Construct, rule: str, reason: str) -> None:
    """Acknowledge (suppress) one cdk-nag finding on a construct and its children, with the written reason."""
    Validations.of(scope).acknowledge(Acknowledgment(id=rule, reason=reason))


def managed_policy_finding(name: str) -> str:
    """The cdk-nag IAM4 finding id for an AWS managed policy, e.g. `service-role/AWSLambdaBasicExecutionRole`."""
    return f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{name}]"


def log_retention(settings: StageSettings) -> logs.RetentionDays:
    """The stage's log retention as CDK's enum (every log group of the stack uses it)."""
    return _RETENTION[settings.log_retention_days]


def every_minute(scope: Construct, function: lambda_.Function, description: str) -> events.Rule:
    """An EventBridge rule invoking `function` every minute. A missed tick is covered by the next one: no retries, no
    stale events."""
    return events.Rule(
        scope,
        "EveryMinute",
        description=description,
        schedule=events.Schedule.rate(Duration.minutes(1)),
        targets=[targets.LambdaFunction(function, retry_attempts=0, max_event_age=Duration.minutes(1))],
    )
