"""The sweep, invoked every minute by EventBridge: expiry, outbox redelivery, orphaned live inputs, housekeeping
(`luxxon/domain/sweep.py`). It works within the invocation's remaining time, less a margin."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from luxxon import wiring
from luxxon.observability import logger, metrics, traced

MARGIN_S = 5.0


@logger.inject_lambda_context
@traced
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    budget_s = max(1.0, context.get_remaining_time_in_millis() / 1000 - MARGIN_S)
    report = wiring.sweep().run(budget_s)
    counts = {
        "expiredWaiting": report.expired_waiting,
        "expiredLive": report.expired_live,
        "outboxDelivered": report.outbox_delivered,
        "orphansDeleted": report.orphans_deleted,
        "pruned": report.pruned,
        "settlementsRequeued": report.settlements_requeued,
        "settlementDiscrepancies": report.settlement_discrepancies,
    }
    for metric, value in (
        ("SessionsExpiredWaiting", report.expired_waiting),
        ("SessionsExpiredLive", report.expired_live),
        ("OutboxDelivered", report.outbox_delivered),
        ("OrphanLiveInputsDeleted", report.orphans_deleted),
        ("RowsPruned", report.pruned),
        ("SettlementsRequeued", report.settlements_requeued),
        ("SettlementDiscrepancies", report.settlement_discrepancies),
        ("SettlementsFailed", report.settlements_failed),
    ):
        metrics.add_metric(name=metric, unit=MetricUnit.Count, value=value)
    metrics.add_metric(name="OldestUnsettledSeconds", unit=MetricUnit.Seconds, value=report.oldest_unsettled_s)
    return counts
