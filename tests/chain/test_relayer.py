"""Settlement end to end on the real chain and database: /end writes the request, the relayer settles, the indexer
confirms. Exactly once under duplicate delivery, a crash between sending and recording, an RPC outage, two relayers
at once and a stuck transaction; visible FAILED outcomes; the indexer through a reorg; the sweep's reconciliation."""

from __future__ import annotations

import socket
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from luxxon import wiring
from luxxon.contracts import session_id
from luxxon.db.connection import connection
from luxxon.db.settlements import PgSettlementStore
from luxxon.domain.ports.money import ALREADY_SETTLED
from luxxon.domain.ports.outbox import SETTLEMENT_REQUEST
from tests.chain.driver import Chain
from tests.chain.plane import RATE, Plane, checksum, ended, reset_settings, settlement, with_wallet
from tests.conftest import Api, WorkspaceFactory


@pytest.fixture
def parties_with_wallets(workspace: WorkspaceFactory, chain: Chain, plane: Plane) -> Any:
    consumer, consumer_wallet = with_wallet(workspace, chain, "CONSUMER")
    operator, operator_wallet = with_wallet(workspace, chain, "SUPPLIER")
    plane.fund(consumer_wallet, 100_000_000)
    return consumer, consumer_wallet, operator, operator_wallet


def _confirm(plane: Plane) -> None:
    plane.chain.rpc("evm_mine")
    plane.indexer().run()


def _assert_settled_once(plane: Plane, api: Api, key: str, sessions: list[dict[str, Any]], operator: str) -> None:
    """Each session settled on chain exactly once, for exactly its charge, to the operator stamped at accept; its
    settlement CONFIRMED and its settlementTxHash the transaction that settled it."""
    events = {}
    for event in plane.settled_events():
        sid = str(session_id.from_bytes32(bytes(event["args"]["sessionId"])))
        assert sid not in events, f"{sid} settled twice"
        events[sid] = event
    assert set(events) == {s["id"] for s in sessions}, "a session was lost or a stranger settled"
    for s in sessions:
        event = events[s["id"]]
        assert event["args"]["amount"] == int(s["chargedMicroUsdc"])
        assert event["args"]["operator"] == checksum(operator)
        view = settlement(api, key, s["id"]).data
        assert view["status"] == "CONFIRMED"
        assert view["txHash"] == event["transactionHash"].to_0x_hex()
        assert api("GET", f"/api/v1/sessions/{s['id']}", key).data["settlementTxHash"] == view["txHash"]
    assert int(plane.contract.functions.owed(checksum(operator)).call()) == sum(
        int(s["chargedMicroUsdc"]) for s in sessions
    )


def test_end_writes_the_settlement_request_in_the_same_transaction(
    api: Api, parties_with_wallets: Any, workspace: WorkspaceFactory
) -> None:
    consumer, consumer_wallet, operator, operator_wallet = parties_with_wallets
    # Given a session LIVE for 5 s, ended by the consumer
    done = ended(api, consumer, operator, 5)
    assert int(done["chargedMicroUsdc"]) == int(done["cleanSeconds"]) * RATE > 0
    # Then its settlement is PENDING with the terms the contract will get, visible to both parties only
    for key in (consumer.key, operator.key):
        view = settlement(api, key, done["id"])
        assert view.status == 200, view.body
        assert view.data["status"] == "PENDING"
        assert view.data["amountMicroUsdc"] == done["chargedMicroUsdc"]
        assert (view.data["consumerWallet"], view.data["operatorWallet"]) == (consumer_wallet, operator_wallet)
    stranger = workspace("CONSUMER")
    assert settlement(api, stranger.key, done["id"]).error == ("SESSION_NOT_FOUND", "session:notFound")
    # And its request waits in the outbox (no queue is configured here)
    kinds = connection().execute(
        "SELECT kind FROM outbox WHERE payload->>'sessionId' = %s AND delivered_at IS NULL", (done["id"],)
    )
    assert SETTLEMENT_REQUEST in {r["kind"] for r in kinds.fetchall()}


def test_a_session_with_no_clean_second_needs_no_settlement(api: Api, parties_with_wallets: Any) -> None:
    consumer, _, operator, _ = parties_with_wallets
    done = ended(api, consumer, operator, 0)
    assert done["chargedMicroUsdc"] == "0"
    view = settlement(api, consumer.key, done["id"]).data
    assert (view["status"], view["amountMicroUsdc"], view["txHash"]) == ("NOT_REQUIRED", "0", None)
    rows = connection().execute(
        "SELECT 1 FROM outbox WHERE kind = %s AND payload->>'sessionId' = %s", (SETTLEMENT_REQUEST, done["id"])
    )
    assert rows.fetchall() == []


def test_a_session_that_never_ended_metered_has_no_settlement(api: Api, parties_with_wallets: Any) -> None:
    consumer, _, _, _ = parties_with_wallets
    created = api("POST", "/api/v1/sessions", consumer.key, {"lat": 1, "lng": 2}).data
    assert settlement(api, consumer.key, created["id"]).error == ("SETTLEMENT_NOT_FOUND", "settlement:notFound")
    assert settlement(api, consumer.key, "not-a-uuid").error == ("SESSION_NOT_FOUND", "session:notFound")


def test_every_message_delivered_three_times_settles_each_session_once(
    api: Api, parties_with_wallets: Any, plane: Plane
) -> None:
    consumer, _, operator, operator_wallet = parties_with_wallets
    sessions = [ended(api, consumer, operator, 3 + i) for i in range(5)]
    ids = [s["id"] for s in sessions]
    relayer = plane.relayer()
    # Three deliveries of every message, in different batches
    assert relayer.settle(ids) == set()
    assert relayer.settle(list(reversed(ids))) == set()
    _confirm(plane)
    assert relayer.settle(ids[:2] + ids) == set()
    _confirm(plane)
    _assert_settled_once(plane, api, consumer.key, sessions, operator_wallet)


def test_a_relayer_killed_between_sending_and_recording_does_not_settle_twice(
    api: Api, parties_with_wallets: Any, plane: Plane, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer, _, operator, operator_wallet = parties_with_wallets
    sessions = [ended(api, consumer, operator, 4) for _ in range(3)]
    ids = [s["id"] for s in sessions]

    class Killed(BaseException):
        pass

    # Given a relayer that dies right after the node accepted its transaction (its transaction never commits)
    def die(self: Any, address: str, next_nonce: int) -> None:
        raise Killed

    monkeypatch.setattr(PgSettlementStore, "set_nonce", die)
    with pytest.raises(Killed):
        plane.relayer().settle(ids)
    monkeypatch.undo()
    assert {settlement(api, consumer.key, i).data["status"] for i in ids} == {"PENDING"}  # nothing recorded
    # When the messages come back (the invocation failed) to a new relayer
    assert plane.relayer().settle(ids) == set()
    # And a later session is settled with the next nonce (not the one the dead relayer's transaction used)
    later = ended(api, consumer, operator, 2)
    assert plane.relayer().settle([later["id"]]) == set()
    _confirm(plane)
    # Then each is settled once, and confirmed with the transaction the chain holds
    _assert_settled_once(plane, api, consumer.key, [*sessions, later], operator_wallet)


def test_an_rpc_outage_retries_and_loses_nothing(api: Api, parties_with_wallets: Any, plane: Plane) -> None:
    consumer, _, operator, operator_wallet = parties_with_wallets
    sessions = [ended(api, consumer, operator, 3) for _ in range(3)]
    ids = [s["id"] for s in sessions]
    with socket.socket() as closed:  # a port nothing listens on: the RPC is down
        closed.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{closed.getsockname()[1]}"
    assert plane.relayer(rpc_url=down).settle(ids) == set(ids)  # every message comes back
    assert {settlement(api, consumer.key, i).data["status"] for i in ids} == {"PENDING"}
    assert plane.relayer().settle(ids) == set()  # the RPC is back
    _confirm(plane)
    _assert_settled_once(plane, api, consumer.key, sessions, operator_wallet)


def test_two_relayers_at_once_settle_each_session_once(
    api: Api, parties_with_wallets: Any, plane: Plane, own_connections: Any
) -> None:
    consumer, _, operator, operator_wallet = parties_with_wallets
    sessions = [ended(api, consumer, operator, 2 + i % 3) for i in range(8)]
    ids = [s["id"] for s in sessions]
    own_connections("luxxon.db.settlements")
    retries: list[set[str]] = []
    crashes: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run(batch: list[str]) -> None:
        relayer = plane.relayer()
        barrier.wait()
        try:
            retries.append(relayer.settle(batch))
        except BaseException as error:  # noqa: BLE001 - reported below
            crashes.append(error)

    # Blocks wait (no automine): both relayers' transactions are pending at once, as on a real chain
    plane.chain.rpc("evm_setAutomine", False)
    try:
        threads = [threading.Thread(target=run, args=(ids,)), threading.Thread(target=run, args=(ids[::-1],))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert crashes == []
        for retry in retries:  # a redelivery of whatever either reported for retry
            assert plane.relayer().settle(sorted(retry)) == set()
        plane.chain.rpc("evm_mine")
    finally:
        plane.chain.rpc("evm_setAutomine", True)
    _confirm(plane)
    mined, pending = plane.settlement_chain().nonces()
    assert mined == pending  # every nonce used once, none left behind a gap
    _assert_settled_once(plane, api, consumer.key, sessions, operator_wallet)


def test_a_stuck_transaction_is_replaced_and_the_view_follows_it(
    api: Api, parties_with_wallets: Any, plane: Plane
) -> None:
    consumer, _, operator, operator_wallet = parties_with_wallets
    done = ended(api, consumer, operator, 3)
    chain = plane.chain
    chain.rpc("evm_setAutomine", False)
    try:
        assert plane.relayer().settle([done["id"]]) == set()
        first = settlement(api, consumer.key, done["id"]).data
        assert first["status"] == "SUBMITTED"
        # When it is still pending past the stall time, the next delivery replaces it (same nonce, higher fees)
        assert plane.relayer(stall_after_s=0).settle([done["id"]]) == set()
        second = settlement(api, consumer.key, done["id"]).data
        assert second["status"] == "SUBMITTED" and second["txHash"] != first["txHash"]
        assert second["attempts"] == first["attempts"] + 1
        chain.rpc("evm_mine")
    finally:
        chain.rpc("evm_setAutomine", True)
    _confirm(plane)
    _assert_settled_once(plane, api, consumer.key, [done], operator_wallet)
    assert settlement(api, consumer.key, done["id"]).data["txHash"] == second["txHash"]


def test_a_charge_the_pool_cannot_cover_fails_visibly_and_keeps_its_hold(
    api: Api, workspace: WorkspaceFactory, chain: Chain, plane: Plane, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer, consumer_wallet = with_wallet(workspace, chain, "CONSUMER")
    operator, _ = with_wallet(workspace, chain, "SUPPLIER")
    plane.fund(consumer_wallet, 1_000)  # one second's worth
    # The credit check makes this impossible; to see what happens if it ever does, the session skips it
    monkeypatch.setenv("LX_CREDIT_CHECK", "false")
    reset_settings()
    done = ended(api, consumer, operator, 5)
    monkeypatch.delenv("LX_CREDIT_CHECK")
    reset_settings()
    assert plane.relayer().settle([done["id"]]) == set()
    _confirm(plane)
    view = settlement(api, consumer.key, done["id"]).data
    assert (view["status"], view["failure"]) == ("FAILED", "contract:InsufficientDeposit")
    assert plane.settled_events() == []  # no partial settlement
    assert plane.relayer().settle([done["id"]]) == set()  # a redelivery changes nothing
    assert PgSettlementStore().failed_count() >= 1  # the sweep's gauge (alarmed)
    wallet = api("GET", "/api/v1/wallet", consumer.key).data
    assert [h["sessionId"] for h in wallet["holds"]] == [done["id"]]
    assert wallet["holdsMicroUsdc"] == done["chargedMicroUsdc"]


def test_no_wallet_no_session_and_a_session_that_lost_its_wallet_fails_visibly_until_retried(
    api: Api, workspace: WorkspaceFactory, plane: Plane, chain: Chain, parties_with_wallets: Any
) -> None:
    consumer, _, operator, operator_wallet = parties_with_wallets
    # A consumer without a wallet cannot request, a supplier without one cannot accept
    walletless = workspace("CONSUMER", wallet=False)
    refused = api("POST", "/api/v1/sessions", walletless.key, {"lat": 1, "lng": 2})
    assert (refused.status, refused.error) == (400, ("NO_WALLET", "wallet:none"))
    created = api("POST", "/api/v1/sessions", consumer.key, {"lat": 1, "lng": 2}).data
    unpaid = workspace("SUPPLIER", wallet=False)
    refused = api("POST", f"/api/v1/sessions/{created['id']}/accept", unpaid.key)
    assert (refused.status, refused.error) == (400, ("NO_WALLET", "wallet:none"))
    assert api("GET", f"/api/v1/sessions/{created['id']}", consumer.key).data["state"] == "REQUESTED"
    # A session ended with no wallet stamped (one under way when wallets came in) fails visibly, and is settled
    # once a wallet is stamped and an operator retries it
    done = ended(api, consumer, operator, 3)
    connection().execute("UPDATE settlements SET consumer_wallet = NULL WHERE session_id = %s", (done["id"],))
    assert plane.relayer().settle([done["id"]]) == set()
    view = settlement(api, consumer.key, done["id"]).data
    assert (view["status"], view["failure"]) == ("FAILED", "wallet:missing")
    connection().execute(
        "UPDATE settlements s SET consumer_wallet = x.consumer_wallet FROM sessions x"
        " WHERE x.id = s.session_id AND s.session_id = %s",
        (done["id"],),
    )
    assert PgSettlementStore().retry_failed(done["id"]) is True
    assert PgSettlementStore().retry_failed(done["id"]) is False  # it is PENDING now
    assert plane.relayer().settle([done["id"]]) == set()
    _confirm(plane)
    _assert_settled_once(plane, api, consumer.key, [done], operator_wallet)


def test_a_transaction_the_node_dropped_is_signed_again_at_its_nonce_so_the_key_never_stalls(
    api: Api, parties_with_wallets: Any, plane: Plane
) -> None:
    consumer, _, operator, operator_wallet = parties_with_wallets
    first, second = ended(api, consumer, operator, 3), ended(api, consumer, operator, 4)
    chain = plane.chain
    chain.rpc("evm_setAutomine", False)
    try:
        assert plane.relayer().settle([first["id"]]) == set()
        dropped = settlement(api, consumer.key, first["id"]).data["txHash"]
        chain.rpc("anvil_dropTransaction", dropped)  # the node forgot it (a restart, an eviction)
        assert plane.relayer().settle([second["id"]]) == set()  # sent past the hole the drop left
        # When the first one's request comes back (the sweep re-queues what stalls), its nonce is filled again
        assert plane.relayer().settle([first["id"]]) == set()
        assert settlement(api, consumer.key, first["id"]).data["txHash"] != dropped
        chain.rpc("evm_mine")
    finally:
        chain.rpc("evm_setAutomine", True)
    _confirm(plane)
    _assert_settled_once(plane, api, consumer.key, [first, second], operator_wallet)
    mined, pending = plane.settlement_chain().nonces()
    assert mined == pending  # nothing left waiting behind a gap


def test_the_wallet_stamped_at_accept_is_paid_even_if_the_workspace_changes_it(
    api: Api, parties_with_wallets: Any, plane: Plane, chain: Chain
) -> None:
    consumer, _, operator, operator_wallet = parties_with_wallets
    done = ended(api, consumer, operator, 3)
    wiring.workspaces().attach_wallet(operator.id, chain.fresh_account())  # after the session: too late to redirect
    assert plane.relayer().settle([done["id"]]) == set()
    _confirm(plane)
    _assert_settled_once(plane, api, consumer.key, [done], operator_wallet)


def test_the_indexer_waits_for_confirmations_and_rewinds_a_deep_reorg(
    api: Api, parties_with_wallets: Any, plane: Plane
) -> None:
    consumer, _, operator, _ = parties_with_wallets
    done = ended(api, consumer, operator, 3)
    chain = plane.chain
    assert plane.relayer().settle([done["id"]]) == set()
    # Not confirmed while fewer than 3 blocks hold it
    plane.indexer(confirmations=3).run()
    assert settlement(api, consumer.key, done["id"]).data["status"] == "SUBMITTED"
    chain.rpc("evm_mine")
    chain.rpc("evm_mine")
    plane.indexer(confirmations=3).run()
    confirmed = settlement(api, consumer.key, done["id"]).data
    assert confirmed["status"] == "CONFIRMED" and confirmed["confirmations"] >= 3
    # When the chain drops the blocks it was in (a reorg deeper than the depth) and grows another branch
    chain.rpc("anvil_rollback", 3)
    for _ in range(5):
        chain.rpc("evm_mine")
    plane.indexer(confirmations=3).run()
    # Then the confirmation is undone (the settlement is open again, the session's hash cleared)
    reopened = settlement(api, consumer.key, done["id"]).data
    assert reopened["status"] == "SUBMITTED" and reopened["blockNumber"] is None
    assert api("GET", f"/api/v1/sessions/{done['id']}", consumer.key).data["settlementTxHash"] is None


def test_a_rewind_undoes_only_what_the_dropped_blocks_decided(
    api: Api, workspace: WorkspaceFactory, chain: Chain, plane: Plane, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer, consumer_wallet = with_wallet(workspace, chain, "CONSUMER")
    operator, operator_wallet = with_wallet(workspace, chain, "SUPPLIER")
    plane.fund(consumer_wallet, 601_000)  # one 600 s hold
    # A settlement CONFIRMED in block A
    paid = ended(api, consumer, operator, 3)
    assert plane.relayer().settle([paid["id"]]) == set()
    plane.indexer().run()
    before = settlement(api, consumer.key, paid["id"]).data
    assert before["status"] == "CONFIRMED"
    fork = before["blockNumber"]
    # Later blocks: a duplicate settleMany for it (skipped AlreadySettled: recorded, decides nothing) ...
    terms = (
        session_id.to_bytes32(paid["id"]),
        checksum(consumer_wallet),
        checksum(operator_wallet),
        paid["cleanSeconds"],
        int(paid["ratePerSecondMicroUsdc"]),
        paid["maxDurationSeconds"],
    )
    relayer_address = plane.settlement_chain().address
    duplicate = chain.send(plane.contract.functions.settleMany([terms]), relayer_address)
    skipped = plane.contract.events.SettlementSkipped().process_receipt(duplicate)
    assert [chain.errors["0x" + bytes(e.args.reason).hex()] for e in skipped] == [ALREADY_SETTLED]
    # ... and a charge the pool cannot cover (the credit check skipped to make one), FAILED by its skip
    monkeypatch.setenv("LX_CREDIT_CHECK", "false")
    reset_settings()
    unpaid = ended(api, consumer, operator, 599)  # 599,000 against the 598,000 left
    monkeypatch.delenv("LX_CREDIT_CHECK")
    reset_settings()
    assert plane.relayer().settle([unpaid["id"]]) == set()
    plane.indexer().run()
    assert settlement(api, consumer.key, unpaid["id"]).data["failure"] == "contract:InsufficientDeposit"
    # When a reorg drops every block after A and the chain grows another branch
    dropped = chain.w3.eth.block_number - fork
    chain.rpc("anvil_rollback", dropped)
    for _ in range(dropped + 2):
        chain.rpc("evm_mine")
    plane.indexer().run()
    # Then the failure decided in a dropped block is undone (open again), the confirmation in A is not
    reopened = settlement(api, consumer.key, unpaid["id"]).data
    assert (reopened["status"], reopened["failure"]) == ("SUBMITTED", None)
    after = settlement(api, consumer.key, paid["id"]).data
    assert (after["status"], after["blockNumber"], after["txHash"]) == ("CONFIRMED", fork, before["txHash"])
    assert api("GET", f"/api/v1/sessions/{paid['id']}", consumer.key).data["settlementTxHash"] == before["txHash"]


def test_the_sweep_requeues_stalled_requests_and_flags_disagreements(
    api: Api, parties_with_wallets: Any, plane: Plane
) -> None:
    consumer, _, operator, _ = parties_with_wallets
    stalled, settled = ended(api, consumer, operator, 3), ended(api, consumer, operator, 4)
    store = PgSettlementStore()

    def age(hours: int) -> None:
        connection().execute(
            "UPDATE settlements SET updated_at = clock_timestamp() - make_interval(hours => %s) WHERE session_id = %s",
            (hours, stalled["id"]),
        )

    def requests() -> int:
        return int(
            connection()
            .execute(
                "SELECT count(*) AS n FROM outbox WHERE kind = %s AND payload->>'sessionId' = %s",
                (SETTLEMENT_REQUEST, stalled["id"]),
            )
            .fetchone()["n"]
        )

    # While its request still waits in the outbox, a stalled settlement is not queued twice
    age(1)
    store.requeue_stalled(older_than_s=600, limit=100)
    assert requests() == 1
    # Once it was delivered (and the message then lost), the sweep queues it again, once
    connection().execute(
        "UPDATE outbox SET delivered_at = clock_timestamp() WHERE kind = %s AND payload->>'sessionId' = %s",
        (SETTLEMENT_REQUEST, stalled["id"]),
    )
    store.requeue_stalled(older_than_s=600, limit=100)
    age(1)
    store.requeue_stalled(older_than_s=600, limit=100)
    assert requests() == 2
    # A confirmed settlement whose row disagrees with the chain's Settled event is flagged
    assert plane.relayer().settle([settled["id"]]) == set()
    _confirm(plane)
    assert store.reconcile() == 0  # the row and its Settled event agree
    connection().execute(
        "UPDATE settlements SET clean_seconds = clean_seconds + 1, amount_micro_usdc = amount_micro_usdc + %s"
        " WHERE session_id = %s",
        (RATE, settled["id"]),
    )
    assert store.reconcile() == 1
    row = store.get(settled["id"])
    assert row is not None and row.discrepancy == "settled:amount"


def test_the_wallet_view_shows_pool_holds_earnings_and_the_confirmed_event_log(
    api: Api, parties_with_wallets: Any, plane: Plane, workspace: WorkspaceFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer, consumer_wallet, operator, operator_wallet = parties_with_wallets
    # Given a confirmed session, an ended one not yet settled, a waiting request and a pending withdrawal
    confirmed = ended(api, consumer, operator, 4)
    assert plane.relayer().settle([confirmed["id"]]) == set()
    unsettled = ended(api, consumer, operator, 3)
    waiting = api("POST", "/api/v1/sessions", consumer.key, {"lat": 1, "lng": 2, "maxDurationSeconds": 60}).data
    plane.chain.send(plane.contract.functions.requestWithdrawal(5_000), consumer_wallet)
    plane.chain.send(plane.contract.functions.withdrawEarnings(), operator_wallet)
    _confirm(plane)
    # Then the consumer sees its pool, the holds drawing on it and what is left
    wallet = api("GET", "/api/v1/wallet", consumer.key)
    assert wallet.status == 200, wallet.body
    view = wallet.data
    deposits = 100_000_000 - int(confirmed["chargedMicroUsdc"])
    held = int(unsettled["chargedMicroUsdc"]) + int(waiting["holdMicroUsdc"])
    assert view["address"] == consumer_wallet
    assert (view["depositsMicroUsdc"], view["pendingWithdrawalMicroUsdc"]) == (str(deposits), "5000")
    assert {h["sessionId"]: h["amountMicroUsdc"] for h in view["holds"]} == {
        unsettled["id"]: unsettled["chargedMicroUsdc"],
        waiting["id"]: waiting["holdMicroUsdc"],
    }
    assert view["holdsMicroUsdc"] == str(held)
    assert view["availableMicroUsdc"] == str(deposits - 5_000 - held)
    assert [e["name"] for e in view["events"]] == ["WithdrawalRequested", "Settled", "Deposited"]
    # And pages through its event log
    first = api("GET", "/api/v1/wallet?limit=2", consumer.key).data
    rest = api("GET", f"/api/v1/wallet?limit=2&cursor={first['nextCursor']}", consumer.key).data
    assert [e["name"] for e in first["events"] + rest["events"]] == ["WithdrawalRequested", "Settled", "Deposited"]
    assert rest["nextCursor"] is None
    # And the operator sees what it earned and withdrew
    earned = api("GET", "/api/v1/wallet", operator.key).data
    assert (earned["owedMicroUsdc"], earned["withdrawnMicroUsdc"]) == ("0", confirmed["chargedMicroUsdc"])
    assert [e["name"] for e in earned["events"]] == ["EarningsWithdrawn", "Settled"]
    # Bad input and missing pieces answer in the envelope
    assert api("GET", "/api/v1/wallet?cursor=%%%", consumer.key).error == ("INVALID_INPUT", "input:cursor")
    # (any cursor of the documented pattern is a position: before block 0, nothing)
    assert api("GET", f"/api/v1/wallet?cursor={'A' * 16}", consumer.key).data["events"] == []
    walletless = workspace("CONSUMER", wallet=False).key
    assert api("GET", "/api/v1/wallet", walletless).error == ("WALLET_NOT_FOUND", "wallet:notFound")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        monkeypatch.setenv("LX_CHAIN_RPC_URL", f"http://127.0.0.1:{closed.getsockname()[1]}")
    reset_settings()
    down = api("GET", "/api/v1/wallet", consumer.key)
    assert (down.status, down.error) == (503, ("CHAIN_UNAVAILABLE", "chain:unreachable"))


def test_an_overrun_expiry_queues_its_settlement_like_end(api: Api, parties_with_wallets: Any, plane: Plane) -> None:
    consumer, _, operator, operator_wallet = parties_with_wallets
    created = api("POST", "/api/v1/sessions", consumer.key, {"lat": 1, "lng": 2, "maxDurationSeconds": 10}).data
    assert api("POST", f"/api/v1/sessions/{created['id']}/accept", operator.key).status == 200
    wiring.sessions().go_live(created["id"], datetime.now(UTC) - timedelta(seconds=30))
    assert wiring.sessions().expire()[1] >= 1
    expired = api("GET", f"/api/v1/sessions/{created['id']}", consumer.key).data
    assert (expired["state"], expired["chargedMicroUsdc"]) == ("EXPIRED", str(10 * RATE))
    assert settlement(api, consumer.key, created["id"]).data["status"] == "PENDING"
    assert plane.relayer().settle([created["id"]]) == set()
    _confirm(plane)
    _assert_settled_once(plane, api, consumer.key, [expired], operator_wallet)
