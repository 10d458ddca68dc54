"""The one stack: the shared platform, then one construct per capability."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Stack, Tags
from constructs import Construct

from infra import constants as c
from infra.constructs.api import Api
from infra.constructs.database import Database
from infra.constructs.decoder import Decoder
from infra.constructs.frames import FramesStore
from infra.constructs.functions import FunctionFactory
from infra.constructs.indexer import Indexer
from infra.constructs.monitoring import Monitoring
from infra.constructs.network import Network
from infra.constructs.platform import Capability, Platform
from infra.constructs.secrets import ExternalSecrets
from infra.constructs.settlement import Settlement
from infra.constructs.sweep import Sweep

# The capabilities, in order; adding one is one entry. Settlement comes after every capability that sends to its queue
# (the API, the sweep): it grants them the queue when it is built.
CAPABILITIES: tuple[Capability, ...] = (Api, Decoder, Sweep, Settlement, Indexer)


class LuxxonStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: c.StageSettings,
        alarm_email: str | None = None,
        capabilities: Sequence[Capability] = CAPABILITIES,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description=f"{c.APP_NAME} serverless backend ({settings.name})",
            **kwargs,
        )
        untaggable = ["AWS::RDS::DBProxyTargetGroup"]  # CDK tags it, CloudFormation's schema has no Tags there
        Tags.of(self).add("app", c.APP_NAME, exclude_resource_types=untaggable)
        Tags.of(self).add("stage", settings.name, exclude_resource_types=untaggable)

        network = Network(self, "Network", settings=settings)
        functions = FunctionFactory(self, "Functions", settings=settings, network=network)
        self.platform = Platform(
            settings=settings,
            network=network,
            functions=functions,
            database=Database(self, "Database", settings=settings, network=network, functions=functions),
            secrets=ExternalSecrets(self, "Secrets", settings=settings),
            frames=FramesStore(self, "Frames", settings=settings, network=network),
            monitoring=Monitoring(self, "Monitoring", settings=settings, alarm_email=alarm_email),
        )
        self.capabilities = [
            capability(self, getattr(capability, "__name__", type(capability).__name__), self.platform)
            for capability in capabilities
        ]
