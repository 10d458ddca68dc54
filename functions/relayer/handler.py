"""The settlement relayer: SQS batches of settlement requests → one `settleMany` transaction per batch.

A Powertools BatchProcessor with a pydantic record model reports partial batch failures: the records whose session
must be retried (the chain did not answer, the nonce was taken) go back to the queue alone and, after the queue's
maximum receives, to its dead-letter queue (an alarm; `python -m luxxon.admin redrive-settlements` moves them back).
The whole batch is settled together first (`Relayer.settle`); each record then reports its session's outcome.
A malformed record fails alone and never blocks the others.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from pydantic import BaseModel, Json, field_validator

from luxxon import wiring_chain as chain
from luxxon.domain.ports.money import ChainUnavailable
from luxxon.observability import logger, metrics, traced


class SettlementRequest(BaseModel):
    sessionId: str

    @field_validator("sessionId")
    @classmethod
    def _uuid(cls, value: str) -> str:
        return str(UUID(value))


class SettlementRecord(SqsRecordModel):
    body: Json[SettlementRequest]


class _Outcome:
    retry: set[str] = set()


def record_handler(record: SettlementRecord) -> None:
    if record.body.sessionId in _Outcome.retry:
        raise RuntimeError(f"settlement of {record.body.sessionId} must be retried")


@logger.inject_lambda_context
@traced
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    ids = []
    for raw in event.get("Records", []):
        try:
            ids.append(SettlementRecord.model_validate(raw).body.sessionId)
        except ValueError:
            logger.error("malformed settlement request", extra={"message_id": raw.get("messageId")})
    try:
        relayer = chain.relayer()
    except ChainUnavailable as error:  # the RPC serves another chain than LX_CHAIN_ID: send nothing, retry all
        logger.error("relayer chain unusable", extra={"reason": str(error)})
        _Outcome.retry = set(ids)
    else:
        _Outcome.retry = relayer.settle(ids) if ids else set()
        try:
            balance = relayer.chain.balance_wei()
        except Exception:  # noqa: BLE001 - the gauge is best effort; the settlement outcome is what matters
            logger.warning("relayer balance unreadable")
        else:
            metrics.add_metric(name="RelayerGasBalanceEth", unit=MetricUnit.Count, value=balance / 10**18)
    metrics.add_metric(name="SettlementRetries", unit=MetricUnit.Count, value=len(_Outcome.retry))
    # A batch that fails entirely is reported like any other (every record back to the queue), not raised.
    processor = BatchProcessor(event_type=EventType.SQS, model=SettlementRecord, raise_on_entire_batch_failure=False)
    return process_partial_response(event, record_handler, processor, context)
