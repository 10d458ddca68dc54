"""Gas of the settlement contract on a private anvil (`gasUsed` from receipts, the 21,000 base cost included).

    .venv/bin/python -m tests.bench.gas [--batch 50] [--smoke]

Targets (issue 9): a single `settleFromPool` to an operator paid before ≤ 65k; per session in a `settleMany` of
50 ≤ 35k. Prints figures; passes or fails nothing.
"""

from __future__ import annotations

import argparse
import uuid

from luxxon.contracts import session_id
from tests.bench.common import local_chain, options
from tests.chain.driver import Chain

RATE = 1_000  # µUSDC per second, the default spot rate
MAX_S = 600
BATCH = 50


def _terms(consumer: str, operator: str, seconds: int = 300) -> tuple[bytes, str, str, int, int, int]:
    return (session_id.to_bytes32(uuid.uuid4()), consumer, operator, seconds, RATE, MAX_S)


def _row(label: str, gas: int, target: int | None = None) -> None:
    verdict = "" if target is None else f"   (target ≤ {target:,}: {'met' if gas <= target else 'above'})"
    print(f"  {label:<72} {gas:>7,}{verdict}")


def _settle_single(chain: Chain) -> None:
    consumer, operator = chain.fresh_account(), chain.fresh_account()
    chain.fund(consumer, 100_000_000)
    settle = chain.settlement.functions.settleFromPool
    first = chain.send(settle(*_terms(consumer, operator)), chain.relayer)
    again = chain.send(settle(*_terms(consumer, operator)), chain.relayer)
    _row("settleFromPool, first payout to this operator", first["gasUsed"])
    _row("settleFromPool, operator paid before", again["gasUsed"], 65_000)
    chain.send(chain.settlement.functions.withdrawEarnings(), operator)
    after = chain.send(settle(*_terms(consumer, operator)), chain.relayer)
    _row("settleFromPool, operator paid before and withdrew since", after["gasUsed"])


def _settle_batch(chain: Chain, batch: int, consumers: int, operators: int, *, paid_before: bool) -> None:
    consumers, operators = min(consumers, batch), min(operators, batch)
    operators_are = _count(operators, "operator" if paid_before else "first-time operator")
    label = f"{_count(consumers, 'consumer')}, {operators_are}" + (" paid before" if paid_before else "")
    payers = [chain.fresh_account() for _ in range(consumers)]
    payees = [chain.fresh_account() for _ in range(operators)]
    for payer in payers:
        chain.fund(payer, 1_000_000_000)
    if paid_before:
        warmup = [_terms(payers[0], payee, 1) for payee in payees]
        chain.send(chain.settlement.functions.settleMany(warmup), chain.relayer)
    items = [_terms(payers[i % consumers], payees[i % operators]) for i in range(batch)]
    receipt = chain.send(chain.settlement.functions.settleMany(items), chain.relayer)
    assert len(chain.events(receipt, "Settled")) == batch
    _row(f"settleMany of {batch}, per session: {label}", receipt["gasUsed"] // batch, 35_000)
    duplicates = chain.send(chain.settlement.functions.settleMany(items), chain.relayer)
    assert len(chain.events(duplicates, "SettlementSkipped")) == batch
    _row(f"settleMany of {batch} already settled ids (all skipped), per item", duplicates["gasUsed"] // batch)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _deposits_and_withdrawals(chain: Chain) -> None:
    consumer, operator = chain.fresh_account(), chain.fresh_account()
    chain.mint(consumer, 10_000_000)
    chain.send(chain.token.functions.approve(chain.settlement.address, 10_000_000), consumer)
    first = chain.send(chain.settlement.functions.deposit(5_000_000), consumer)
    top_up = chain.send(chain.settlement.functions.deposit(5_000_000), consumer)
    _row("deposit, first into this pool", first["gasUsed"])
    _row("deposit, top-up", top_up["gasUsed"])
    chain.send(chain.settlement.functions.settleFromPool(*_terms(consumer, operator)), chain.relayer)
    request = chain.send(chain.settlement.functions.requestWithdrawal(4_000_000), consumer)
    _row("requestWithdrawal", request["gasUsed"])
    chain.increase_time(chain.settlement.functions.withdrawalDelay().call())
    execute = chain.send(chain.settlement.functions.executeWithdrawal(), consumer)
    _row("executeWithdrawal (after the delay)", execute["gasUsed"])
    earnings = chain.send(chain.settlement.functions.withdrawEarnings(), operator)
    _row("withdrawEarnings", earnings["gasUsed"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=BATCH, help="sessions per settleMany")
    batch = options(parser, batch=5).batch
    with local_chain() as chain:
        print("gasUsed per transaction (receipt, 21,000 base included):")
        _settle_single(chain)
        _settle_batch(chain, batch, 1, 1, paid_before=True)
        _settle_batch(chain, batch, 10, 10, paid_before=True)
        _settle_batch(chain, batch, batch, batch, paid_before=True)
        _settle_batch(chain, batch, batch, batch, paid_before=False)
        print(
            "  (each new session id fills a fresh slot: 22,100; a consumer or operator first touched in a batch\n"
            f"   costs a cold rewrite: 5,000 each; so {batch} all-different parties cannot go below ~37k a session)"
        )
        _deposits_and_withdrawals(chain)


if __name__ == "__main__":
    main()
