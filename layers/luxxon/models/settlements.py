"""The settlement view of a session and the wallet view of a workspace (seed tags Settlements and Wallet).
Amounts are µUSDC as decimal strings, like every amount in the API."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from luxxon.models.base import Dto


class LxSettlementDto(Dto):
    sessionId: str
    status: str = Field(description="PENDING, SUBMITTED, CONFIRMED, FAILED, or NOT_REQUIRED (nothing was charged).")
    txHash: str | None = Field(
        description="The transaction carrying it: the latest sent until CONFIRMED (a "
        "replaced transaction shows its replacement), then the one that settled it."
    )
    blockNumber: int | None
    confirmations: int | None = Field(
        description="Blocks including it (CONFIRMED only; null when the chain is unreachable)."
    )
    consumerWallet: str | None
    operatorWallet: str | None
    cleanSeconds: int
    ratePerSecondMicroUsdc: str
    amountMicroUsdc: str
    failure: str | None = Field(description="Why the contract refused it (FAILED), e.g. contract:InsufficientDeposit.")
    attempts: int
    updatedAt: str


class LxWalletHoldDto(Dto):
    sessionId: str
    state: str
    amountMicroUsdc: str


class LxWalletEventDto(Dto):
    name: str = Field(
        description="Deposited, Settled, WithdrawalRequested, WithdrawalCancelled, Withdrawn, "
        "EarningsWithdrawn, SettlementSkipped."
    )
    blockNumber: int
    logIndex: int
    txHash: str
    sessionId: str | None
    amountMicroUsdc: str | None
    args: dict[str, Any]


class LxWalletDto(Dto):
    address: str
    block: int = Field(description="The block the on-chain figures were read at.")
    depositsMicroUsdc: str = Field(description="The pool on chain: deposits(address).")
    pendingWithdrawalMicroUsdc: str
    withdrawalUnlocksAt: int | None = Field(description="Unix time from which the pending withdrawal can execute.")
    holdsMicroUsdc: str = Field(description="Σ holds of the sessions drawing on this wallet.")
    availableMicroUsdc: str = Field(description="deposits − pending withdrawal − holds (never below 0).")
    holds: list[LxWalletHoldDto]
    owedMicroUsdc: str = Field(description="Operator earnings not yet withdrawn: owed(address).")
    withdrawnMicroUsdc: str = Field(description="Operator earnings withdrawn so far (indexed EarningsWithdrawn).")
    indexedBlock: int | None = Field(description="The last block the event log has read (confirmations deep).")
    events: list[LxWalletEventDto]
    nextCursor: str | None
