"""Holds against the real chain under random use: over sequences of create / cancel / go live / end / send /
confirm / top up / withdraw by two workspaces sharing one wallet, what the sessions drawing on the wallet can still
take from it never exceeds `deposits(wallet) − pendingWithdrawal(wallet)`, and `/wallet` shows exactly the holds
DESIGN.md defines. (A charge mined but not yet CONFIRMED is out of `deposits` and still held, so there the holds alone
exceed it: conservative, and that window is one rule of its own here.)

"Withdraw" is what a consumer can do on chain: request a withdrawal of at most what `GET /wallet` shows available
(a new request replaces the last one, so that one's amount counts as available too), cancel it, or execute it once
its delay has passed. A request for more than that is the consumer's own choice the API cannot refuse (the contract
does not know the holds); what still holds then is the test after this machine: every held charge settles in full
before the withdrawal can execute.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from luxxon import wiring
from luxxon.config import get_settings
from tests.chain.plane import RATE, Plane, ended, settlement
from tests.conftest import Api, WorkspaceFactory

POINT = {"lat": 1, "lng": 2}


class HoldsMachine(RuleBasedStateMachine):
    def __init__(self, api: Api, workspace: WorkspaceFactory, plane: Plane) -> None:
        super().__init__()
        self.api, self.plane, self.chain = api, plane, plane.chain
        self.wallet = self.chain.fresh_account()
        self.consumers = [workspace("CONSUMER", wallet=False) for _ in range(2)]
        for consumer in self.consumers:  # whichever workspaces share the wallet, their holds draw on it
            wiring.workspaces().attach_wallet(consumer.id, self.wallet)
        self.operator = workspace("SUPPLIER")
        self.requested: dict[str, str] = {}  # session id → its consumer's key
        self.live: dict[str, str] = {}
        self.unsettled: dict[str, str] = {}  # ended with a charge, not sent yet
        self.mined: dict[str, str] = {}  # its settlement mined, not CONFIRMED yet
        self.holds: dict[str, int] = {}  # what DESIGN.md says each session holds now
        self.pending = 0

    def wallet_view(self) -> dict[str, Any]:
        reply = self.api("GET", "/api/v1/wallet", self.consumers[0].key)
        assert reply.status == 200, reply.body
        return dict(reply.data)

    def available(self) -> int:
        """deposits − pending withdrawal − holds, as `/wallet` shows them (never clamped here): the credit rule."""
        view = self.wallet_view()
        return int(view["depositsMicroUsdc"]) - int(view["pendingWithdrawalMicroUsdc"]) - int(view["holdsMicroUsdc"])

    @initialize(amount=st.integers(0, 400_000))
    def fund(self, amount: int) -> None:
        self.chain.send(self.chain.token.functions.approve(self.plane.address, 2**256 - 1), self.wallet)
        self.top_up(amount)

    @rule(amount=st.integers(1, 200_000))
    def top_up(self, amount: int) -> None:
        if amount:
            self.chain.mint(self.wallet, amount)
            self.chain.send(self.plane.contract.functions.deposit(amount), self.wallet)

    @rule(who=st.sampled_from([0, 1]), duration=st.integers(10, 120))
    def create(self, who: int, duration: int) -> None:
        available, hold = self.available(), RATE * duration
        key = self.consumers[who].key
        body = {**POINT, "maxDurationSeconds": duration, "waitTimeoutSeconds": 3600}  # however slow the machine
        reply = self.api("POST", "/api/v1/sessions", key, body)
        if hold <= available:
            assert reply.status == 201, reply.body
            assert int(reply.data["holdMicroUsdc"]) == hold
            self.requested[reply.data["id"]] = key
            self.holds[reply.data["id"]] = hold
        else:
            assert reply.status == 400, f"created past the credit: hold {hold}, available {available}"
            assert reply.error == ("INSUFFICIENT_CREDIT", "credit:insufficient")

    @precondition(lambda self: self.requested)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        sid = data.draw(st.sampled_from(sorted(self.requested)))
        assert self.api("DELETE", f"/api/v1/sessions/{sid}", self.requested.pop(sid)).status == 200
        del self.holds[sid]

    @precondition(lambda self: self.requested and len(self.live) < get_settings().max_active_sessions_per_operator)
    @rule(data=st.data(), seconds=st.integers(0, 150))
    def go_live(self, data: st.DataObject, seconds: int) -> None:
        """Accepted, and its first frame `seconds` ago (up to past its maxDuration: the meter caps the charge)."""
        sid = data.draw(st.sampled_from(sorted(self.requested)))
        assert self.api("POST", f"/api/v1/sessions/{sid}/accept", self.operator.key).status == 200
        wiring.sessions().go_live(sid, datetime.now(UTC) - timedelta(seconds=seconds))
        self.live[sid] = self.requested.pop(sid)

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def end(self, data: st.DataObject) -> None:
        sid = data.draw(st.sampled_from(sorted(self.live)))
        key = self.live.pop(sid)
        reply = self.api("POST", f"/api/v1/sessions/{sid}/end", key)
        assert reply.status == 200, reply.body
        charge = int(reply.data["chargedMicroUsdc"])
        assert charge <= self.holds[sid]
        if charge:
            self.holds[sid] = charge
            self.unsettled[sid] = key
        else:
            del self.holds[sid]

    @precondition(lambda self: self.unsettled)
    @rule()
    def send(self) -> None:
        """The relayer sends every settlement not sent yet; the chain mines it (the charges leave the pool)."""
        assert self.plane.relayer().settle(sorted(self.unsettled)) == set()
        self.mined |= self.unsettled
        self.unsettled = {}

    @precondition(lambda self: self.mined)
    @rule()
    def confirm(self) -> None:
        """A block later the indexer confirms them: their holds end."""
        self.chain.rpc("evm_mine")
        self.plane.indexer().run()
        for sid, key in self.mined.items():
            assert settlement(self.api, key, sid).data["status"] == "CONFIRMED"
            del self.holds[sid]
        self.mined = {}

    @rule(data=st.data())
    def request_withdrawal(self, data: st.DataObject) -> None:
        most = self.available() + self.pending  # the request replaces the pending one
        if most > 0:
            amount = data.draw(st.one_of(st.just(most), st.integers(1, most)))  # often all of it
            self.chain.send(self.plane.contract.functions.requestWithdrawal(amount), self.wallet)
            self.pending = amount

    @precondition(lambda self: self.pending)
    @rule()
    def cancel_withdrawal(self) -> None:
        self.chain.send(self.plane.contract.functions.cancelWithdrawal(), self.wallet)
        self.pending = 0

    @precondition(lambda self: self.pending)
    @rule()
    def execute_withdrawal(self) -> None:
        self.chain.increase_time(self.plane.contract.functions.withdrawalDelay().call())
        self.chain.send(self.plane.contract.functions.executeWithdrawal(), self.wallet)
        self.pending = 0

    @invariant()
    def holds_never_exceed_deposits_less_pending(self) -> None:
        views = [self.api("GET", "/api/v1/wallet", c.key).data for c in self.consumers]
        deposits = int(views[0]["depositsMicroUsdc"])
        pending = int(views[0]["pendingWithdrawalMicroUsdc"])
        assert deposits == self.plane.contract.functions.deposits(self.wallet).call()
        assert pending == self.pending
        for view in views:  # both workspaces see the wallet's total; each lists only its own sessions
            assert int(view["holdsMicroUsdc"]) == sum(self.holds.values())
            mine = {h["sessionId"] for h in view["holds"]}
            assert mine <= set(self.holds)
        assert {h["sessionId"] for v in views for h in v["holds"]} == set(self.holds)
        still_to_take = sum(amount for sid, amount in self.holds.items() if sid not in self.mined)
        assert still_to_take <= deposits - pending


@pytest.fixture(autouse=True)
def budget_out_of_the_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine checks two wallet views after every step, hundreds of requests a second per key: the rate limit
    (tested on its own) must not answer for the chain."""
    monkeypatch.setenv("LX_RATE_LIMIT_WORKSPACE", "100000/100000")
    monkeypatch.setenv("LX_RATE_LIMIT_KEY", "100000/100000")


def test_holds_never_exceed_what_the_pool_can_pay_under_random_use(
    api: Api, workspace: WorkspaceFactory, plane: Plane
) -> None:
    run_state_machine_as_test(
        lambda: HoldsMachine(api, workspace, plane),
        settings=settings(
            max_examples=20,
            stateful_step_count=25,
            # No shrinking against a real chain and database (minutes); a failure prints the steps as they ran. No
            # replay either: the session ids drawn are the database's, new in each run.
            phases=[Phase.explicit, Phase.generate],
            database=None,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


def test_a_withdrawal_request_above_what_is_available_never_takes_a_held_charge(
    api: Api, workspace: WorkspaceFactory, plane: Plane
) -> None:
    """The consumer asks on chain for everything while a session holds: new requests are refused at once, and the
    session still settles in full from the pool before the withdrawal can execute; the withdrawal pays the rest."""
    chain = plane.chain
    consumer = workspace("CONSUMER", wallet=False)
    wallet = chain.fresh_account()
    wiring.workspaces().attach_wallet(consumer.id, wallet)
    operator = workspace("SUPPLIER")
    plane.fund(wallet, 1_000_000)
    live = ended(api, consumer, operator, 30, end=False)
    chain.send(plane.contract.functions.requestWithdrawal(1_000_000), wallet)

    view = api("GET", "/api/v1/wallet", consumer.key).data
    assert (view["holdsMicroUsdc"], view["availableMicroUsdc"]) == (str(600 * RATE), "0")
    refused = api("POST", "/api/v1/sessions", consumer.key, {**POINT, "maxDurationSeconds": 10})
    assert refused.status == 400, refused.body
    assert refused.error == ("INSUFFICIENT_CREDIT", "credit:insufficient")

    charge = int(api("POST", f"/api/v1/sessions/{live['id']}/end", consumer.key).data["chargedMicroUsdc"])
    assert charge >= 30 * RATE
    assert plane.relayer().settle([live["id"]]) == set()
    chain.rpc("evm_mine")
    plane.indexer().run()
    assert settlement(api, consumer.key, live["id"]).data["status"] == "CONFIRMED"
    operator_wallet = api("GET", "/api/v1/wallet", operator.key).data["address"]
    assert plane.contract.functions.owed(chain.w3.to_checksum_address(operator_wallet)).call() == charge

    chain.increase_time(plane.contract.functions.withdrawalDelay().call())
    before = chain.token_balance(wallet)
    chain.send(plane.contract.functions.executeWithdrawal(), wallet)
    assert chain.token_balance(wallet) - before == 1_000_000 - charge
    assert plane.contract.functions.deposits(wallet).call() == 0
