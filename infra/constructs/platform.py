"""What every capability builds on, and the one shape a capability has.

A capability is a construct class taking `(scope, id, platform)`. The stack instantiates a list of them, so adding
the sweep or the settlement relayer is one entry in that list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aws_cdk import Acknowledgment, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.constants import StageSettings

if TYPE_CHECKING:
    from infra.constructs.database import Database
    from infra.constructs.frames import FramesStore
    from infra.constructs.functions import FunctionFactory
    from infra.constructs.monitoring import Monitoring
    from infra.constructs.network import Network
    from infra.constructs.secrets import ExternalSecrets


@dataclass(frozen=True)
class Consumer:
    """Something that runs our code (a Lambda function, the decoder task): what a resource grants access to."""

    grantee: iam.IGrantable
    connections: ec2.Connections
    add_environment: Callable[[str, str], Any]

    @property
    def role(self) -> Construct:
        """The IAM role whose policy receives the grants (where a finding about that policy is acknowledged)."""
        principal = self.grantee.grant_principal
        assert isinstance(principal, Construct)
        return principal

    @classmethod
    def of_function(cls, function: lambda_.Function) -> Consumer:
        return cls(grantee=function, connections=function.connections, add_environment=function.add_environment)


@dataclass
class Platform:
    """The shared foundation: network, data stores, secrets, the function builder and monitoring."""

    settings: StageSettings
    network: Network
    functions: FunctionFactory
    database: Database
    secrets: ExternalSecrets
    frames: FramesStore
    monitoring: Monitoring
    # Code that writes outbox rows and delivers them after commit (API handlers, the sweep): the settlement
    # capability grants these its queue.
    outbox_writers: list[Consumer] = field(default_factory=list)


Capability = Callable[[Construct, str, Platform], Construct]

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
