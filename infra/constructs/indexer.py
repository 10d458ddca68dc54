"""The chain indexer: one Lambda every minute that follows the settlement contract's events into the database.

It reads from `settlement_start_block` (the contract's deployment block) on, and takes a `Settled` event as final
once `chain_confirmations` blocks include it; that is when a settlement becomes CONFIRMED and its hold is released.
It needs web3 (the chain layer), the database and the RPC URL, never the relayer's key.
"""

from __future__ import annotations

from aws_cdk import Duration
from constructs import Construct

from infra import constants as c
from infra.constructs.common import Consumer, every_minute
from infra.constructs.platform import Platform


class Indexer(Construct):
    def __init__(self, scope: Construct, construct_id: str, platform: Platform) -> None:
        super().__init__(scope, construct_id)
        settings = platform.settings
        self.function = platform.functions.function(
            self,
            "Function",
            handler=c.INDEXER_HANDLER,
            description="Chain indexer: the settlement contract's events into the database",
            timeout=Duration.seconds(50),  # finishes before the next tick
            chain=True,
        )
        consumer = Consumer.of_function(self.function)
        platform.database.connect(consumer)
        platform.read_chain(consumer)
        consumer.add_environment(c.ENV_CHAIN_CONFIRMATIONS, str(settings.chain_confirmations))
        consumer.add_environment(c.ENV_CHAIN_START_BLOCK, str(settings.chain_start_block))
        every_minute(self, self.function, "Runs the chain indexer")
        platform.monitoring.watch_function(self.function, "indexer")
