"""The chain indexer, invoked every minute by EventBridge: the settlement contract's events, `confirmations` deep,
into the database (settlements CONFIRMED or FAILED, the wallet event log). `luxxon/domain/settlement.py`."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from luxxon import wiring_chain as chain
from luxxon.observability import logger, metrics, traced


@logger.inject_lambda_context
@traced
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    recorded = chain.indexer().run()
    metrics.add_metric(name="ChainEventsIndexed", unit=MetricUnit.Count, value=recorded)
    return {"recorded": recorded}
