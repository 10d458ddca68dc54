"""The sweep, invoked every minute by EventBridge.

- pre-LIVE sessions past `createdAt + waitTimeoutSeconds` → EXPIRED (operator released, live input torn down),
- LIVE sessions past `startedAt + maxDurationSeconds` without /end → EXPIRED with the meter run,
- the outbox: redeliver what failed (live-input teardowns).
"""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from luxxon import wiring
from luxxon.observability import logger, metrics, traced


@logger.inject_lambda_context
@traced
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    waiting, overrun = wiring.sessions().expire()
    delivered = wiring.outbox().drain(limit=200)
    metrics.add_metric(name="SessionsExpiredWaiting", unit=MetricUnit.Count, value=waiting)
    metrics.add_metric(name="SessionsExpiredLive", unit=MetricUnit.Count, value=overrun)
    metrics.add_metric(name="OutboxDelivered", unit=MetricUnit.Count, value=delivered)
    return {"expiredWaiting": waiting, "expiredLive": overrun, "outboxDelivered": delivered}
