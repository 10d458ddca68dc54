"""The sweep, invoked every minute by EventBridge: redeliver the outbox (live-input teardowns that failed)."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from luxxon.api import wiring
from luxxon.observability import logger, metrics, traced


@logger.inject_lambda_context
@traced
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    delivered = wiring.outbox().drain(limit=200)
    metrics.add_metric(name="OutboxDelivered", unit=MetricUnit.Count, value=delivered)
    return {"outboxDelivered": delivered}
