"""LuxxonSettlement behaviour by behaviour, on anvil with the committed compiled contracts.

Tests that change what everyone shares (pause, roles, fee, delay, ownership) run `isolated` (evm_snapshot /
evm_revert); the others act through fresh accounts only."""

from __future__ import annotations

import uuid

import pytest
from eth_abi import encode
from eth_utils import keccak

from luxxon.contracts import session_id
from luxxon.local.chain import CHAIN_ID
from tests.chain.driver import Chain

RATE = 1_000
MAX_S = 600
DAY = 24 * 3600


def new_id() -> bytes:
    return session_id.to_bytes32(uuid.uuid4())


def funded(chain: Chain, amount: int) -> str:
    consumer = chain.fresh_account()
    chain.fund(consumer, amount)
    return consumer


# ---------------------------------------------------------------- the token


def test_test_usdc_has_six_decimals_and_only_its_deployer_mints(chain: Chain) -> None:
    stranger = chain.fresh_account()

    assert chain.token.functions.decimals().call() == 6
    chain.expect_revert(chain.token.functions.mint(stranger, 1), stranger, "NotMinter")
    chain.mint(stranger, 5)
    assert chain.token_balance(stranger) == 5


# ---------------------------------------------------------------- deposits


def test_a_deposit_moves_tokens_into_the_callers_pool(chain: Chain) -> None:
    consumer = chain.fresh_account()
    chain.mint(consumer, 3_000_000)
    chain.send(chain.token.functions.approve(chain.settlement.address, 3_000_000), consumer)

    receipt = chain.send(chain.settlement.functions.deposit(2_000_000), consumer)

    assert chain.deposits(consumer) == 2_000_000
    assert chain.token_balance(consumer) == 1_000_000
    [event] = chain.events(receipt, "Deposited")
    assert dict(event.args) == {"consumer": consumer, "from": consumer, "amount": 2_000_000, "balance": 2_000_000}


def test_deposit_for_credits_the_named_consumer_from_the_callers_tokens(chain: Chain) -> None:
    treasury, agent = chain.fresh_account(), chain.fresh_account()
    chain.mint(treasury, 700)
    chain.send(chain.token.functions.approve(chain.settlement.address, 700), treasury)

    chain.send(chain.settlement.functions.depositFor(agent, 700), treasury)

    assert (chain.deposits(agent), chain.deposits(treasury), chain.token_balance(treasury)) == (700, 0, 0)


def test_a_deposit_of_nothing_is_refused(chain: Chain) -> None:
    consumer = chain.fresh_account()
    chain.expect_revert(chain.settlement.functions.deposit(0), consumer, "ZeroAmount")


# ---------------------------------------------------------------- settlement


def test_settling_moves_the_charge_from_the_consumer_pool_to_the_operator_earnings(chain: Chain) -> None:
    consumer, operator = funded(chain, 1_000_000), chain.fresh_account()
    sid = new_id()

    receipt = chain.send(
        chain.settlement.functions.settleFromPool(sid, consumer, operator, 300, RATE, MAX_S), chain.relayer
    )

    assert chain.deposits(consumer) == 700_000
    assert chain.owed(operator) == 300_000
    [event] = chain.events(receipt, "Settled")
    assert dict(event.args) == {
        "sessionId": sid,
        "consumer": consumer,
        "operator": operator,
        "chargeableSeconds": 300,
        "ratePerSecond": RATE,
        "maxDurationSeconds": MAX_S,
        "amount": 300_000,
        "fee": 0,
    }


def test_the_settled_event_names_the_session_the_codec_encoded(chain: Chain) -> None:
    consumer, operator = funded(chain, 10_000), chain.fresh_account()
    session = uuid.uuid4()

    receipt = chain.send(
        chain.settlement.functions.settleFromPool(session_id.to_bytes32(session), consumer, operator, 1, 1, 1),
        chain.relayer,
    )

    [event] = chain.events(receipt, "Settled")
    assert session_id.from_bytes32(event.args.sessionId) == session


def test_a_session_settles_once_and_a_second_call_reverts_with_already_settled(chain: Chain) -> None:
    consumer, operator = funded(chain, 1_000_000), chain.fresh_account()
    sid = new_id()
    settle = chain.settlement.functions.settleFromPool(sid, consumer, operator, 100, RATE, MAX_S)
    chain.send(settle, chain.relayer)

    chain.expect_revert(settle, chain.relayer, "AlreadySettled")

    assert chain.deposits(consumer) == 900_000
    assert chain.owed(operator) == 100_000


def test_settled_and_settlement_of_report_what_was_settled(chain: Chain) -> None:
    consumer, operator = funded(chain, 1_000_000), chain.fresh_account()
    sid = new_id()
    assert chain.settlement.functions.settled(sid).call() is False
    assert chain.settlement.functions.settlementOf(sid).call() == [0, 0]

    receipt = chain.send(
        chain.settlement.functions.settleFromPool(sid, consumer, operator, 42, RATE, MAX_S), chain.relayer
    )

    block = chain.w3.eth.get_block(receipt["blockNumber"])
    assert chain.settlement.functions.settled(sid).call() is True
    assert chain.settlement.functions.settlementOf(sid).call() == [42_000, block["timestamp"]]


def test_settling_more_seconds_than_the_maximum_duration_reverts(chain: Chain) -> None:
    consumer, operator = funded(chain, 10_000_000), chain.fresh_account()

    chain.expect_revert(
        chain.settlement.functions.settleFromPool(new_id(), consumer, operator, MAX_S + 1, RATE, MAX_S),
        chain.relayer,
        "ChargeableSecondsAboveMax",
    )

    assert chain.deposits(consumer) == 10_000_000


def test_a_charge_above_the_deposit_reverts_and_settles_nothing_in_part(chain: Chain) -> None:
    consumer, operator = funded(chain, 299_999), chain.fresh_account()
    sid = new_id()

    chain.expect_revert(
        chain.settlement.functions.settleFromPool(sid, consumer, operator, 300, RATE, MAX_S),
        chain.relayer,
        "InsufficientDeposit",
    )

    assert (chain.deposits(consumer), chain.owed(operator)) == (299_999, 0)
    assert chain.settlement.functions.settled(sid).call() is False


def test_a_charge_equal_to_the_whole_deposit_settles(chain: Chain) -> None:
    consumer, operator = funded(chain, 300_000), chain.fresh_account()

    chain.send(chain.settlement.functions.settleFromPool(new_id(), consumer, operator, 300, RATE, MAX_S), chain.relayer)

    assert (chain.deposits(consumer), chain.owed(operator)) == (0, 300_000)


def test_a_huge_rate_is_refused_as_insufficient_deposit_not_an_overflow(chain: Chain) -> None:
    consumer, operator = funded(chain, 1_000), chain.fresh_account()

    chain.expect_revert(
        chain.settlement.functions.settleFromPool(new_id(), consumer, operator, 2, 2**255, 10),
        chain.relayer,
        "InsufficientDeposit",
    )


def test_a_zero_second_session_settles_for_nothing_and_is_marked_settled(chain: Chain) -> None:
    consumer, operator = funded(chain, 1_000), chain.fresh_account()
    sid = new_id()

    receipt = chain.send(
        chain.settlement.functions.settleFromPool(sid, consumer, operator, 0, RATE, MAX_S), chain.relayer
    )

    assert chain.events(receipt, "Settled")[0].args.amount == 0
    assert chain.settlement.functions.settled(sid).call() is True
    assert (chain.deposits(consumer), chain.owed(operator)) == (1_000, 0)


def test_only_a_relayer_may_settle(chain: Chain) -> None:
    consumer, operator = funded(chain, 1_000_000), chain.fresh_account()
    settle = chain.settlement.functions.settleFromPool(new_id(), consumer, operator, 10, RATE, MAX_S)

    for caller in (chain.fresh_account(), consumer, operator, chain.owner):
        chain.expect_revert(settle, caller, "NotRelayer")

    assert chain.deposits(consumer) == 1_000_000


@pytest.mark.parametrize(
    "raw",
    [
        bytes(32),  # zero
        uuid.uuid4().bytes.rjust(32, b"\0"),  # right-aligned
        b"\x01" * 32,  # low half not zero
    ],
    ids=["zero", "right-aligned", "full-width"],
)
def test_a_session_id_that_is_not_a_left_aligned_uuid_is_refused(chain: Chain, raw: bytes) -> None:
    consumer, operator = funded(chain, 1_000), chain.fresh_account()

    chain.expect_revert(
        chain.settlement.functions.settleFromPool(raw, consumer, operator, 1, 1, 1), chain.relayer, "InvalidSessionId"
    )


def test_a_zero_address_party_is_refused(chain: Chain) -> None:
    consumer = funded(chain, 1_000)
    nobody = "0x" + "00" * 20

    for payer, payee in ((nobody, consumer), (consumer, nobody)):
        chain.expect_revert(
            chain.settlement.functions.settleFromPool(new_id(), payer, payee, 1, 1, 1), chain.relayer, "ZeroAddress"
        )


# ---------------------------------------------------------------- batches


def _item(consumer: str, operator: str, seconds: int = 10, sid: bytes | None = None) -> tuple:
    return (sid or new_id(), consumer, operator, seconds, RATE, MAX_S)


def test_settle_many_skips_already_settled_ids_and_settles_the_rest(chain: Chain) -> None:
    consumer, operator = funded(chain, 1_000_000), chain.fresh_account()
    done = _item(consumer, operator)
    chain.send(chain.settlement.functions.settleFromPool(*done), chain.relayer)
    fresh = [_item(consumer, operator), _item(consumer, operator)]

    receipt = chain.send(chain.settlement.functions.settleMany([fresh[0], done, fresh[1]]), chain.relayer)

    assert [e.args.sessionId for e in chain.events(receipt, "Settled")] == [fresh[0][0], fresh[1][0]]
    [skipped] = chain.events(receipt, "SettlementSkipped")
    assert (skipped.args.sessionId, chain.errors["0x" + skipped.args.reason.hex()]) == (done[0], "AlreadySettled")
    assert chain.deposits(consumer) == 1_000_000 - 3 * 10 * RATE


def test_settle_many_settles_a_duplicate_within_one_batch_once(chain: Chain) -> None:
    consumer, operator = funded(chain, 1_000_000), chain.fresh_account()
    item = _item(consumer, operator)

    receipt = chain.send(chain.settlement.functions.settleMany([item, item, item]), chain.relayer)

    assert len(chain.events(receipt, "Settled")) == 1
    assert len(chain.events(receipt, "SettlementSkipped")) == 2
    assert chain.owed(operator) == 10 * RATE


def test_settle_many_skips_invalid_items_with_the_reason_a_single_settle_would_give(chain: Chain) -> None:
    consumer, operator = funded(chain, 50_000), chain.fresh_account()
    good = _item(consumer, operator, 10)
    too_long = (new_id(), consumer, operator, MAX_S + 1, RATE, MAX_S)
    too_dear = _item(consumer, operator, 500)
    bad_id = _item(consumer, operator, 1, sid=b"\x07" * 32)

    receipt = chain.send(chain.settlement.functions.settleMany([too_long, good, too_dear, bad_id]), chain.relayer)

    assert [e.args.sessionId for e in chain.events(receipt, "Settled")] == [good[0]]
    reasons = [chain.errors["0x" + e.args.reason.hex()] for e in chain.events(receipt, "SettlementSkipped")]
    assert reasons == ["ChargeableSecondsAboveMax", "InsufficientDeposit", "InvalidSessionId"]
    assert chain.deposits(consumer) == 40_000


def test_settle_many_from_a_non_relayer_reverts_whole(chain: Chain) -> None:
    consumer, operator = funded(chain, 1_000_000), chain.fresh_account()

    chain.expect_revert(
        chain.settlement.functions.settleMany([_item(consumer, operator)]), chain.fresh_account(), "NotRelayer"
    )


# ---------------------------------------------------------------- fee


def test_the_platform_fee_defaults_to_zero(chain: Chain) -> None:
    assert chain.settlement.functions.feeBps().call() == 0


def test_a_platform_fee_goes_to_the_fee_recipient_and_the_rest_to_the_operator(isolated: Chain) -> None:
    chain = isolated
    consumer, operator, platform = funded(chain, 1_000_000), chain.fresh_account(), chain.fresh_account()
    chain.send(chain.settlement.functions.setFee(250, platform), chain.owner)

    receipt = chain.send(
        chain.settlement.functions.settleFromPool(new_id(), consumer, operator, 100, RATE, MAX_S), chain.relayer
    )

    assert (chain.owed(operator), chain.owed(platform)) == (97_500, 2_500)
    assert chain.events(receipt, "Settled")[0].args.fee == 2_500
    assert chain.deposits(consumer) == 900_000


def test_a_fee_above_ten_percent_is_refused(isolated: Chain) -> None:
    chain = isolated
    chain.expect_revert(chain.settlement.functions.setFee(1_001, chain.owner), chain.owner, "FeeTooHigh")


# ---------------------------------------------------------------- operators' earnings


def test_an_operator_withdraws_everything_owed(chain: Chain) -> None:
    consumer, operator = funded(chain, 1_000_000), chain.fresh_account()
    chain.send(chain.settlement.functions.settleFromPool(new_id(), consumer, operator, 7, RATE, MAX_S), chain.relayer)

    receipt = chain.send(chain.settlement.functions.withdrawEarnings(), operator)

    assert (chain.owed(operator), chain.token_balance(operator)) == (0, 7_000)
    assert chain.events(receipt, "EarningsWithdrawn")[0].args.amount == 7_000
    chain.expect_revert(chain.settlement.functions.withdrawEarnings(), operator, "NothingOwed")


# ---------------------------------------------------------------- delayed withdrawals


def test_the_default_withdrawal_delay_outlasts_the_longest_session_and_its_settlement(chain: Chain) -> None:
    delay = chain.settlement.functions.withdrawalDelay().call()
    assert delay == DAY
    assert delay > 4 * 3600 + 3600  # longest session + longest wait for an operator, with a day's margin to settle


def test_a_requested_withdrawal_stays_in_the_pool_until_executed(chain: Chain) -> None:
    consumer = funded(chain, 1_000_000)

    receipt = chain.send(chain.settlement.functions.requestWithdrawal(400_000), consumer)

    now = chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert chain.deposits(consumer) == 1_000_000
    assert chain.settlement.functions.pendingWithdrawal(consumer).call() == [400_000, now + DAY]
    assert dict(chain.events(receipt, "WithdrawalRequested")[0].args) == {
        "consumer": consumer,
        "amount": 400_000,
        "unlocksAt": now + DAY,
    }


def test_a_withdrawal_executes_at_its_unlock_time_and_not_a_second_before(chain: Chain) -> None:
    consumer = funded(chain, 1_000_000)
    chain.send(chain.settlement.functions.requestWithdrawal(400_000), consumer)
    unlocks_at = chain.settlement.functions.pendingWithdrawal(consumer).call()[1]

    chain.next_block_at(unlocks_at - 1)
    early = chain.send_unchecked(chain.settlement.functions.executeWithdrawal(), consumer)
    chain.next_block_at(unlocks_at)
    on_time = chain.send(chain.settlement.functions.executeWithdrawal(), consumer)

    assert early["status"] == 0
    assert dict(chain.events(on_time, "Withdrawn")[0].args) == {
        "consumer": consumer,
        "amount": 400_000,
        "balance": 600_000,
    }
    assert (chain.deposits(consumer), chain.token_balance(consumer)) == (600_000, 400_000)
    assert chain.settlement.functions.pendingWithdrawal(consumer).call() == [0, 0]


def test_a_locked_withdrawal_reverts_with_its_unlock_time(chain: Chain) -> None:
    consumer = funded(chain, 1_000)
    chain.send(chain.settlement.functions.requestWithdrawal(1_000), consumer)

    chain.expect_revert(chain.settlement.functions.executeWithdrawal(), consumer, "WithdrawalLocked")


def test_a_pending_withdrawal_still_pays_for_sessions_and_executes_only_what_is_left(chain: Chain) -> None:
    consumer, operator = funded(chain, 1_000_000), chain.fresh_account()
    chain.send(chain.settlement.functions.requestWithdrawal(1_000_000), consumer)

    chain.send(chain.settlement.functions.settleFromPool(new_id(), consumer, operator, 300, RATE, MAX_S), chain.relayer)
    chain.increase_time(DAY)
    chain.send(chain.settlement.functions.executeWithdrawal(), consumer)

    assert (chain.token_balance(consumer), chain.deposits(consumer), chain.owed(operator)) == (700_000, 0, 300_000)


def test_a_new_request_replaces_the_previous_one_and_restarts_the_clock(chain: Chain) -> None:
    consumer = funded(chain, 1_000_000)
    chain.send(chain.settlement.functions.requestWithdrawal(1), consumer)
    chain.increase_time(DAY)

    receipt = chain.send(chain.settlement.functions.requestWithdrawal(900_000), consumer)

    now = chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert chain.settlement.functions.pendingWithdrawal(consumer).call() == [900_000, now + DAY]
    chain.expect_revert(chain.settlement.functions.executeWithdrawal(), consumer, "WithdrawalLocked")


def test_a_cancelled_request_cannot_be_executed(chain: Chain) -> None:
    consumer = funded(chain, 1_000)
    chain.send(chain.settlement.functions.requestWithdrawal(1_000), consumer)

    receipt = chain.send(chain.settlement.functions.cancelWithdrawal(), consumer)
    chain.increase_time(DAY)

    assert chain.events(receipt, "WithdrawalCancelled")[0].args.amount == 1_000
    chain.expect_revert(chain.settlement.functions.executeWithdrawal(), consumer, "NoPendingWithdrawal")
    assert chain.deposits(consumer) == 1_000


def test_a_withdrawal_request_above_the_deposit_is_refused(chain: Chain) -> None:
    consumer = funded(chain, 1_000)
    chain.expect_revert(chain.settlement.functions.requestWithdrawal(1_001), consumer, "AmountAboveDeposit")


def test_the_owner_sets_the_delay_within_bounds_for_later_requests_only(isolated: Chain) -> None:
    chain = isolated
    consumer = funded(chain, 2_000)
    chain.send(chain.settlement.functions.requestWithdrawal(1_000), consumer)
    before = chain.settlement.functions.pendingWithdrawal(consumer).call()

    chain.send(chain.settlement.functions.setWithdrawalDelay(6 * 3600), chain.owner)

    assert chain.settlement.functions.pendingWithdrawal(consumer).call() == before
    assert chain.settlement.functions.withdrawalDelay().call() == 6 * 3600
    for out_of_range in (6 * 3600 - 1, 7 * DAY + 1):
        chain.expect_revert(
            chain.settlement.functions.setWithdrawalDelay(out_of_range), chain.owner, "WithdrawalDelayOutOfRange"
        )
    chain.expect_revert(chain.settlement.functions.setWithdrawalDelay(DAY), consumer, "NotOwner")


# ---------------------------------------------------------------- pause


def test_pause_stops_settlement_and_deposits(isolated: Chain) -> None:
    chain = isolated
    consumer, operator = funded(chain, 1_000_000), chain.fresh_account()
    chain.send(chain.token.functions.approve(chain.settlement.address, 10), consumer)
    chain.mint(consumer, 10)

    chain.send(chain.settlement.functions.pause(), chain.owner)

    item = _item(consumer, operator)
    chain.expect_revert(chain.settlement.functions.settleFromPool(*item), chain.relayer, "EnforcedPause")
    chain.expect_revert(chain.settlement.functions.settleMany([item]), chain.relayer, "EnforcedPause")
    chain.expect_revert(chain.settlement.functions.deposit(10), consumer, "EnforcedPause")
    chain.send(chain.settlement.functions.unpause(), chain.owner)
    chain.send(chain.settlement.functions.settleFromPool(*item), chain.relayer)


def test_pause_never_traps_funds(isolated: Chain) -> None:
    chain = isolated
    consumer, operator = funded(chain, 1_000_000), chain.fresh_account()
    chain.send(chain.settlement.functions.settleFromPool(*_item(consumer, operator)), chain.relayer)
    chain.send(chain.settlement.functions.pause(), chain.owner)

    chain.send(chain.settlement.functions.requestWithdrawal(990_000), consumer)
    chain.increase_time(DAY)
    chain.send(chain.settlement.functions.executeWithdrawal(), consumer)
    chain.send(chain.settlement.functions.withdrawEarnings(), operator)

    assert (chain.token_balance(consumer), chain.token_balance(operator)) == (990_000, 10_000)


def test_only_the_owner_pauses(isolated: Chain) -> None:
    chain = isolated
    chain.expect_revert(chain.settlement.functions.pause(), chain.relayer, "NotOwner")
    assert chain.settlement.functions.paused().call() is False


# ---------------------------------------------------------------- roles


def test_relayer_rotation_grant_the_new_key_then_revoke_the_old(isolated: Chain) -> None:
    chain = isolated
    consumer, operator, new_relayer = funded(chain, 1_000_000), chain.fresh_account(), chain.fresh_account()

    chain.send(chain.settlement.functions.grantRelayer(new_relayer), chain.owner)
    chain.send(chain.settlement.functions.settleFromPool(*_item(consumer, operator)), chain.relayer)  # old key
    chain.send(chain.settlement.functions.settleFromPool(*_item(consumer, operator)), new_relayer)  # new key
    chain.send(chain.settlement.functions.revokeRelayer(chain.relayer), chain.owner)

    chain.expect_revert(
        chain.settlement.functions.settleFromPool(*_item(consumer, operator)), chain.relayer, "NotRelayer"
    )
    assert chain.settlement.functions.isRelayer(new_relayer).call() is True
    assert chain.owed(operator) == 2 * 10 * RATE


def test_only_the_owner_manages_relayers(chain: Chain) -> None:
    stranger = chain.fresh_account()
    chain.expect_revert(chain.settlement.functions.grantRelayer(stranger), stranger, "NotOwner")
    chain.expect_revert(chain.settlement.functions.revokeRelayer(chain.relayer), chain.relayer, "NotOwner")


def test_ownership_moves_in_two_steps(isolated: Chain) -> None:
    chain = isolated
    successor, stranger = chain.fresh_account(), chain.fresh_account()

    chain.send(chain.settlement.functions.transferOwnership(successor), chain.owner)
    assert chain.settlement.functions.owner().call() == chain.owner
    chain.expect_revert(chain.settlement.functions.acceptOwnership(), stranger, "NotPendingOwner")
    chain.send(chain.settlement.functions.acceptOwnership(), successor)

    assert chain.settlement.functions.owner().call() == successor
    chain.expect_revert(chain.settlement.functions.pause(), chain.owner, "NotOwner")


# ---------------------------------------------------------------- EIP-712


def test_the_eip712_domain_names_the_contract_its_version_the_chain_and_its_address(chain: Chain) -> None:
    fields, name, version, chain_id, verifying, salt, extensions = chain.settlement.functions.eip712Domain().call()
    expected = keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [
                keccak(text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak(text="LuxxonSettlement"),
                keccak(text="1"),
                CHAIN_ID,
                chain.settlement.address,
            ],
        )
    )

    assert (fields, name, version, chain_id, verifying) == (
        b"\x0f",
        "LuxxonSettlement",
        "1",
        CHAIN_ID,
        chain.settlement.address,
    )
    assert (salt, extensions) == (bytes(32), [])
    assert chain.settlement.functions.DOMAIN_SEPARATOR().call() == expected
