"""Invariants of LuxxonSettlement under random sequences of everything its users can do, on the real chain.

In the manner of Sablier's invariant suites: handlers (the rules) drive the contract through a few actors with
random, bounded inputs, a store of ghost variables (`Ghost`) records what should have happened, and invariants
compare the chain with it after every step. Each example deploys its own settlement contract inside an
evm_snapshot (reverted at teardown), so it owns every balance it checks.

Accounting invariant: token.balanceOf(settlement) == Σ deposits(a) + Σ owed(a) over every account.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.logs import DISCARD
from web3.types import EventData, TxReceipt

from luxxon import contracts
from luxxon.admin.deploy import connect, deploy
from luxxon.contracts import session_id
from luxxon.local.chain import DEPLOYER
from tests.chain.driver import Chain

CONSUMERS = 3
OPERATORS = 3
MAX_DURATION = 14_400  # the API's longest session
DELAY = 24 * 3600
POOL = 10_000_000  # deposits up to 10 USDC: one long session at the spot rate can drain a pool


@dataclass
class Ghost:
    """What the chain should hold, kept by the handlers."""

    deposits: Counter[str] = field(default_factory=Counter)
    owed: Counter[str] = field(default_factory=Counter)
    pending: dict[str, tuple[int, int]] = field(default_factory=dict)  # consumer → (amount, unlocksAt)
    settled: dict[bytes, int] = field(default_factory=dict)  # sessionId → amount
    relayers: list[str] = field(default_factory=list)  # in grant order
    paused: bool = False
    authorized: set[bytes] = field(default_factory=set)  # tx hashes sent by a relayer while it was one


class SettlementMachine(RuleBasedStateMachine):
    def __init__(self, chain: Chain) -> None:
        super().__init__()
        self.chain = chain
        self.snapshot_id = self.chain.rpc("evm_snapshot")
        # Each block one second after the last, whatever the wall clock says: the same choices replay the same
        # timestamps, so a failing example shrinks and replays (time jumps use evm_setNextBlockTimestamp).
        self.chain.rpc("anvil_setBlockTimestampInterval", 1)
        self.ghost = Ghost()

    @initialize(pools=st.lists(st.integers(0, POOL), min_size=CONSUMERS, max_size=CONSUMERS))
    def deploy_a_fresh_settlement_and_fill_some_pools(self, pools: list[int]) -> None:
        chain = self.chain
        deployment = deploy(connect(chain.local.rpc_url), DEPLOYER.key, usdc=chain.token.address, relayer=chain.relayer)
        self.settlement: Contract = chain.w3.eth.contract(
            address=deployment.settlement, abi=contracts.load(contracts.SETTLEMENT).abi
        )
        self.consumers = [chain.fresh_account() for _ in range(CONSUMERS)]
        self.operators = [chain.fresh_account() for _ in range(OPERATORS)]
        self.outsider = chain.fresh_account()
        self.spare_relayer = chain.fresh_account()
        self.ghost.relayers = [chain.relayer]
        for consumer, amount in zip(self.consumers, pools, strict=True):
            chain.send(chain.token.functions.approve(self.settlement.address, 2**256 - 1), consumer)
            if amount:
                chain.mint(consumer, amount)
                chain.send(self.settlement.functions.deposit(amount), consumer)
                self.ghost.deposits[consumer] += amount

    def teardown(self) -> None:
        assert self.chain.rpc("evm_revert", self.snapshot_id) is True
        self.chain.rpc("anvil_removeBlockTimestampInterval")

    # ------------------------------------------------------------ helpers

    def _send(self, fn: ContractFunction, sender: str) -> TxReceipt:
        receipt = self.chain.send_unchecked(fn, sender)
        if sender in self.ghost.relayers:
            self.ghost.authorized.add(bytes(receipt["transactionHash"]))
        return receipt

    def _block_time(self, receipt: TxReceipt) -> int:
        return int(self.chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"])

    def _outcome(self, sid: bytes, consumer: str, seconds: int, rate: int, max_s: int) -> str | None:
        """Why the ghost says this settlement must fail (None: it must settle), in the contract's order."""
        if sid in self.ghost.settled:
            return "AlreadySettled"
        if seconds > max_s:
            return "ChargeableSecondsAboveMax"
        if seconds * rate > self.ghost.deposits[consumer]:
            return "InsufficientDeposit"
        return None

    def _apply(self, sid: bytes, consumer: str, operator: str, seconds: int, rate: int) -> None:
        self.ghost.settled[sid] = seconds * rate
        self.ghost.deposits[consumer] -= seconds * rate
        self.ghost.owed[operator] += seconds * rate

    def _session_id(self, data: st.DataObject) -> bytes:
        """A new id, or (often) one already used: duplicates are the point."""
        if self.ghost.settled and data.draw(st.booleans(), label="reuse an id"):
            return data.draw(st.sampled_from(list(self.ghost.settled)), label="settled id")
        return session_id.to_bytes32(data.draw(st.uuids(version=4), label="new id"))

    def _terms(self, data: st.DataObject) -> tuple[bytes, str, str, int, int, int]:
        """Random terms, bounded the way Sablier's handlers bound theirs: mostly a charge the pool can pay,
        sometimes any charge, sometimes more seconds than the maximum."""
        if self.ghost.pending and data.draw(st.booleans(), label="charge a consumer who is withdrawing"):
            consumer = data.draw(st.sampled_from(list(self.ghost.pending)), label="consumer")
        else:
            consumer = data.draw(st.sampled_from(self.consumers), label="consumer")
        operator = data.draw(st.sampled_from(self.operators), label="operator")
        max_s = data.draw(st.integers(10, MAX_DURATION), label="max")
        rate = data.draw(st.integers(0, 1_500), label="rate")
        kind = data.draw(st.sampled_from(["affordable", "affordable", "affordable", "any", "over the max"]))
        if kind == "affordable":
            cap = min(max_s, self.ghost.deposits[consumer] // rate) if rate else max_s
            seconds = data.draw(st.integers(0, cap), label="seconds")
        elif kind == "any":
            seconds = data.draw(st.integers(0, max_s), label="seconds")
        else:
            seconds = data.draw(st.integers(max_s + 1, max_s + 100), label="seconds")
        return self._session_id(data), consumer, operator, seconds, rate, max_s

    # ------------------------------------------------------------ consumers

    @rule(data=st.data(), amount=st.integers(1, POOL))
    def deposit(self, data: st.DataObject, amount: int) -> None:
        consumer = data.draw(st.sampled_from(self.consumers), label="consumer")
        self.chain.mint(consumer, amount)
        receipt = self._send(self.settlement.functions.deposit(amount), consumer)
        assert receipt["status"] == (0 if self.ghost.paused else 1)
        if not self.ghost.paused:
            self.ghost.deposits[consumer] += amount

    @rule(data=st.data(), action=st.sampled_from(["request", "request", "execute", "execute", "cancel"]))
    def consumer_exits(self, data: st.DataObject, action: str) -> None:
        """Request, execute or cancel a withdrawal; mostly by a consumer already waiting for one."""
        if self.ghost.pending and data.draw(st.integers(0, 3), label="pick a consumer who is waiting"):
            consumer = data.draw(st.sampled_from(list(self.ghost.pending)), label="consumer")
        else:
            consumer = data.draw(st.sampled_from(self.consumers), label="consumer")
        if action == "request":
            self._request_withdrawal(consumer, data.draw(st.floats(0.01, 1.2), label="share of the deposit"))
        elif action == "execute":
            self._execute_withdrawal(data, consumer)
        else:
            receipt = self._send(self.settlement.functions.cancelWithdrawal(), consumer)
            assert receipt["status"] == (1 if consumer in self.ghost.pending else 0)
            self.ghost.pending.pop(consumer, None)

    def _request_withdrawal(self, consumer: str, share: float) -> None:
        amount = max(1, int(self.ghost.deposits[consumer] * share))
        receipt = self._send(self.settlement.functions.requestWithdrawal(amount), consumer)
        allowed = amount <= self.ghost.deposits[consumer]  # paused or not: requests never stop
        event(f"requestWithdrawal: {'accepted' if allowed else 'above the deposit'}")
        assert receipt["status"] == (1 if allowed else 0)
        if allowed:
            self.ghost.pending[consumer] = (amount, self._block_time(receipt) + DELAY)

    def _execute_withdrawal(self, data: st.DataObject, consumer: str) -> None:
        request = self.ghost.pending.get(consumer)
        if request is not None:  # often mined right at the unlock time, a second before, or after
            offset = data.draw(st.sampled_from([None, -1, 0, 1]), label="mined at unlocksAt +")
            if offset is not None and request[1] + offset > self.chain.now():
                self.chain.next_block_at(request[1] + offset)
        before = self.chain.token_balance(consumer)
        receipt = self._send(self.settlement.functions.executeWithdrawal(), consumer)
        due = request is not None and self._block_time(receipt) >= request[1]
        assert receipt["status"] == (1 if due else 0)  # paused or not: exits never stop
        paid = min(request[0], self.ghost.deposits[consumer]) if request is not None and due else 0
        event(
            "executeWithdrawal: "
            + ("nothing pending" if request is None else "locked" if not due else "paid what settlements left"
               if paid < request[0] else "paid in full")
            + (" while paused" if self.ghost.paused else "")
        )  # fmt: skip
        if request is not None and due:
            self.ghost.deposits[consumer] -= paid
            del self.ghost.pending[consumer]
        assert self.chain.token_balance(consumer) == before + paid

    # ------------------------------------------------------------ operators

    @rule(data=st.data())
    def withdraw_earnings(self, data: st.DataObject) -> None:
        operator = data.draw(st.sampled_from(self.operators), label="operator")
        before = self.chain.token_balance(operator)
        receipt = self._send(self.settlement.functions.withdrawEarnings(), operator)
        owed = self.ghost.owed[operator]
        assert receipt["status"] == (1 if owed else 0)
        self.ghost.owed[operator] = 0
        assert self.chain.token_balance(operator) == before + owed

    # ------------------------------------------------------------ relayer

    @rule(data=st.data())
    def settle(self, data: st.DataObject) -> None:
        self._settle_one(data, self._terms(data))

    @precondition(lambda self: bool(self.ghost.settled))
    @rule(data=st.data())
    def settle_a_settled_session_again(self, data: st.DataObject) -> None:
        sid = data.draw(st.sampled_from(list(self.ghost.settled)), label="settled id")
        self._settle_one(data, (sid, *self._terms(data)[1:]))

    def _settle_one(self, data: st.DataObject, terms: tuple[bytes, str, str, int, int, int]) -> None:
        sid, consumer, operator, seconds, rate, max_s = terms
        relayer = data.draw(st.sampled_from(self.ghost.relayers), label="relayer")
        expected = "EnforcedPause" if self.ghost.paused else self._outcome(sid, consumer, seconds, rate, max_s)
        fn = self.settlement.functions.settleFromPool(*terms)
        if expected is not None:
            assert self.chain.revert_reason(fn, relayer) == expected
        receipt = self._send(fn, relayer)
        event(f"settleFromPool: {expected or 'settled'}")
        assert receipt["status"] == (0 if expected else 1)
        if expected is None:
            self._apply(sid, consumer, operator, seconds, rate)

    @rule(data=st.data(), size=st.integers(1, 6))
    def settle_many(self, data: st.DataObject, size: int) -> None:
        items = [self._terms(data) for _ in range(size)]
        if size > 1 and data.draw(st.booleans(), label="repeat an item in the batch"):
            items.append(items[0])
        receipt = self._send(self.settlement.functions.settleMany(items), self.chain.relayer)
        if self.ghost.paused:
            assert receipt["status"] == 0
            return
        assert receipt["status"] == 1  # never fails because of an item
        settled, skipped = [], []
        for sid, consumer, operator, seconds, rate, max_s in items:
            reason = self._outcome(sid, consumer, seconds, rate, max_s)
            if reason is None:
                self._apply(sid, consumer, operator, seconds, rate)
                settled.append(sid)
            else:
                skipped.append((sid, reason))
            event(f"settleMany item: {reason or 'settled'}")
        assert [bytes(e.args.sessionId) for e in self._events(receipt, "Settled")] == settled
        assert [
            (bytes(e.args.sessionId), self.chain.errors["0x" + e.args.reason.hex()])
            for e in self._events(receipt, "SettlementSkipped")
        ] == skipped

    @rule(data=st.data())
    def settle_without_the_role(self, data: st.DataObject) -> None:
        caller = data.draw(
            st.sampled_from([self.outsider, self.chain.owner, *self.consumers, *self.operators, self.spare_relayer]),
            label="caller",
        )
        if caller in self.ghost.relayers:
            return
        fn = self.settlement.functions.settleFromPool(*self._terms(data))
        assert self.chain.revert_reason(fn, caller) == "NotRelayer"
        assert self._send(fn, caller)["status"] == 0

    # ------------------------------------------------------------ owner and time

    @rule(action=st.sampled_from(["toggle pause", "rotate the spare relayer"]))
    def owner_acts(self, action: str) -> None:
        if action == "toggle pause":
            fn = self.settlement.functions.unpause() if self.ghost.paused else self.settlement.functions.pause()
            self.ghost.paused = not self.ghost.paused
        elif self.spare_relayer in self.ghost.relayers:
            fn = self.settlement.functions.revokeRelayer(self.spare_relayer)
            self.ghost.relayers.remove(self.spare_relayer)
        else:
            fn = self.settlement.functions.grantRelayer(self.spare_relayer)
            self.ghost.relayers.append(self.spare_relayer)
        assert self._send(fn, self.chain.owner)["status"] == 1

    @rule(seconds=st.sampled_from([1, 60, 3_600, 4 * 3_600, DELAY - 1, DELAY, 2 * DELAY]))
    def time_passes(self, seconds: int) -> None:
        self.chain.next_block_at(self.chain.now() + seconds)
        self.chain.rpc("evm_mine")

    # ------------------------------------------------------------ invariants

    def _events(self, receipt: TxReceipt, name: str) -> list[EventData]:
        return list(self.settlement.events[name]().process_receipt(receipt, errors=DISCARD))

    def _settled_logs(self) -> list[EventData]:
        return list(self.settlement.events.Settled().get_logs(from_block=0))

    @invariant()
    def the_contract_holds_exactly_the_deposits_plus_what_is_owed(self) -> None:
        if not hasattr(self, "settlement"):
            return
        held = self.chain.token_balance(self.settlement.address)
        assert held == sum(self.ghost.deposits.values()) + sum(self.ghost.owed.values())

    @invariant()
    def every_balance_and_request_is_what_the_ghost_says(self) -> None:
        if not hasattr(self, "settlement"):
            return
        views = self.settlement.functions
        for consumer in self.consumers:
            assert views.deposits(consumer).call() == self.ghost.deposits[consumer]
            assert tuple(views.pendingWithdrawal(consumer).call()) == self.ghost.pending.get(consumer, (0, 0))
        for operator in self.operators:
            assert views.owed(operator).call() == self.ghost.owed[operator]
        assert views.paused().call() is self.ghost.paused

    @invariant()
    def each_session_is_settled_at_most_once_and_only_by_a_relayer(self) -> None:
        if not hasattr(self, "settlement"):
            return
        logs = self._settled_logs()
        counts = Counter(bytes(log.args.sessionId) for log in logs)
        assert all(n == 1 for n in counts.values())
        assert set(counts) == set(self.ghost.settled)
        assert all(bytes(log.transactionHash) in self.ghost.authorized for log in logs)

    @invariant()
    def no_charge_is_above_rate_times_max_duration(self) -> None:
        if not hasattr(self, "settlement"):
            return
        for log in self._settled_logs():
            terms = log.args
            assert terms.amount == terms.chargeableSeconds * terms.ratePerSecond
            assert terms.chargeableSeconds <= terms.maxDurationSeconds
            assert terms.amount <= terms.ratePerSecond * terms.maxDurationSeconds
            assert terms.amount == self.ghost.settled[bytes(terms.sessionId)]


def test_settlement_invariants_hold_under_random_use(chain: Chain) -> None:
    run_state_machine_as_test(
        lambda: SettlementMachine(chain),
        settings=settings(
            max_examples=20,
            stateful_step_count=40,
            # No shrinking: against a real chain it takes minutes (past the suite's timeout); a failure prints its
            # steps (at most 40) as they ran, which is enough to replay it.
            phases=[Phase.explicit, Phase.reuse, Phase.generate],
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
