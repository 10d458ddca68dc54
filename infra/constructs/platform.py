"""What every capability builds on, and the one shape a capability has.

A capability is a construct class taking `(scope, id, platform)`. The stack instantiates a list of them, so adding
the sweep, the settlement relayer or the chain indexer is one entry in that list. The helpers every construct shares
(Consumer, acknowledge, log_retention) live in `infra.constructs.common`, which imports no construct; this module
imports the foundation constructs and no capability, so nothing here closes an import cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from constructs import Construct

from infra import constants as c
from infra.constructs.common import Consumer

if TYPE_CHECKING:
    from infra.constructs.database import Database
    from infra.constructs.frames import FramesStore
    from infra.constructs.functions import FunctionFactory
    from infra.constructs.monitoring import Monitoring
    from infra.constructs.network import Network
    from infra.constructs.secrets import ExternalSecrets


@dataclass
class Platform:
    """The shared foundation: network, data stores, secrets, the function builder and monitoring."""

    settings: c.StageSettings
    network: Network
    functions: FunctionFactory
    database: Database
    secrets: ExternalSecrets
    frames: FramesStore
    monitoring: Monitoring
    # Code that sends settlement requests (the API routes that end a metered session, the sweep that ends overdue
    # ones and redelivers the outbox): the settlement capability grants these its queue.
    settlement_senders: list[Consumer] = field(default_factory=list)

    def connect_api(self, consumer: Consumer) -> None:
        """What an API function that reaches the database takes: the proxy path and its secret, and the key that seals
        the consistency tokens its writes return."""
        self.database.connect(consumer)
        self.secrets.grant_consistency_key(consumer)

    def read_chain(self, consumer: Consumer) -> None:
        """What reading the chain takes: the RPC URL (chain secret), the chain it must serve and the settlement
        contract's address (once the stage has one, see StageSettings). The path out is HTTPS through NAT, which every
        function security group allows."""
        self.secrets.grant_chain(consumer)
        consumer.add_environment(c.ENV_CHAIN_ID, str(self.settings.chain_id))
        if self.settings.settlement_address is not None:
            consumer.add_environment(c.ENV_CHAIN_SETTLEMENT_ADDRESS, self.settings.settlement_address)


Capability = Callable[[Construct, str, Platform], Construct]
