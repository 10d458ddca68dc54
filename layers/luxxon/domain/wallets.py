"""The money views: a session's settlement (`GET /settlements/{sessionId}`) and a workspace's wallet (`GET /wallet`).

Holds follow DESIGN.md ("Money plane"), the one definition the credit check and settlement also use: a session holds
its `holdMicroUsdc` against its consumer wallet from creation until it ends, an ended one its `chargedMicroUsdc`
until its settlement is CONFIRMED (a FAILED one keeps holding), and nothing otherwise.
Available = deposits(wallet) − pending withdrawal − Σ holds.
"""

from __future__ import annotations

from collections.abc import Callable

from luxxon.domain.cursors import decode_event_cursor, encode_event_cursor
from luxxon.domain.ports.money import ChainUnavailable, SettlementStore, WalletReader, WalletStore
from luxxon.domain.ports.sessions import SessionStore
from luxxon.domain.ports.workspaces import Principal
from luxxon.domain.sessions import parse_session_id
from luxxon.errors import ErrorCode, LxError, session_not_found
from luxxon.models.base import iso_ms
from luxxon.models.settlements import LxSettlementDto, LxWalletDto, LxWalletEventDto, LxWalletHoldDto


class MoneyViews:
    def __init__(
        self,
        sessions: SessionStore,
        settlements: SettlementStore,
        wallets: WalletStore,
        wallet_of: Callable[[str], str | None],
        reader: Callable[[], WalletReader],
        contract: Callable[[], str],
    ) -> None:
        self.sessions = sessions
        self.settlements = settlements
        self.wallets = wallets
        self.wallet_of = wallet_of
        self.reader = reader
        self.contract = contract

    def settlement(self, principal: Principal, session_id: str) -> LxSettlementDto:
        """The two parties only; to anyone else the session does not exist."""
        session = self.sessions.get(parse_session_id(session_id))
        if session is None or not session.is_party(principal.workspace_id):
            raise session_not_found()
        row = self.settlements.get(session.id)
        if row is None:
            raise LxError(ErrorCode.SETTLEMENT_NOT_FOUND, "settlement:notFound")
        confirmations = None
        if row.block_number is not None:
            try:
                confirmations = max(0, self.reader().head() - row.block_number + 1)
            except ChainUnavailable:
                confirmations = None  # the database's view still answers
        return LxSettlementDto(
            sessionId=row.session_id,
            status=row.status.value,
            txHash=row.tx_hash,
            blockNumber=row.block_number,
            confirmations=confirmations,
            consumerWallet=row.consumer_wallet,
            operatorWallet=row.operator_wallet,
            cleanSeconds=row.clean_seconds,
            ratePerSecondMicroUsdc=str(row.rate_per_second_micro_usdc),
            amountMicroUsdc=str(row.amount_micro_usdc),
            failure=row.failure,
            attempts=row.attempts,
            updatedAt=iso_ms(row.updated_at) or "",
        )

    def wallet(self, principal: Principal, cursor: str | None, limit: int) -> LxWalletDto:
        after = decode_event_cursor(cursor) if cursor else None
        address = self.wallet_of(principal.workspace_id)
        if address is None:
            raise LxError(ErrorCode.WALLET_NOT_FOUND, "wallet:notFound")
        try:
            pool = self.reader().pool(address)
        except ChainUnavailable:
            raise LxError(ErrorCode.CHAIN_UNAVAILABLE, "chain:unreachable") from None
        holds = self.wallets.holds(address, pool.block)
        held = sum(int(h["amount"]) for h in holds)
        contract = self.contract()
        rows = self.wallets.wallet_events(contract, address, after, limit + 1)
        page = rows[:limit]
        last = page[-1] if len(rows) > limit else None
        next_cursor = encode_event_cursor(last["block_number"], last["log_index"]) if last else None
        return LxWalletDto(
            address=address,
            block=pool.block,
            depositsMicroUsdc=str(pool.deposits),
            pendingWithdrawalMicroUsdc=str(pool.pending_withdrawal),
            withdrawalUnlocksAt=pool.withdrawal_unlocks_at or None,
            holdsMicroUsdc=str(held),
            availableMicroUsdc=str(max(0, pool.deposits - pool.pending_withdrawal - held)),
            # Another workspace sharing the wallet counts in the total; its sessions are not this caller's to see.
            holds=[
                LxWalletHoldDto(sessionId=h["session_id"], state=h["state"], amountMicroUsdc=str(h["amount"]))
                for h in holds
                if h["workspace_id"] == principal.workspace_id
            ],
            owedMicroUsdc=str(pool.owed),
            withdrawnMicroUsdc=str(self.wallets.withdrawn(contract, address)),
            indexedBlock=self.wallets.indexed_head(contract),
            events=[
                LxWalletEventDto(
                    name=e["event_name"],
                    blockNumber=e["block_number"],
                    logIndex=e["log_index"],
                    txHash=e["tx_hash"],
                    sessionId=str(e["session_id"]) if e["session_id"] else None,
                    amountMicroUsdc=None if e["amount"] is None else str(int(e["amount"])),
                    args=e["args"],
                )
                for e in page
            ],
            nextCursor=next_cursor,
        )
