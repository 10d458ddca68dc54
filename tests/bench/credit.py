"""What the on-chain credit check costs `POST /sessions` (in process, against a private anvil and a scratch database).

    .venv/bin/python -m tests.bench.credit [--rounds 1000] [--smoke]

Prints the create's p50 with the check and without it (`credit_check=False`, a bench-only switch) and the p50 of
the check's own JSON-RPC round trip (one eth_call of CreditReader on the same kept-alive connection), both as the
checked creates make it and alone, measured in turn so that the machine's drift falls on each alike.
Target (issue 10): the difference is that one round trip.
"""

from __future__ import annotations

import argparse
import time
import warnings

from luxxon import wiring
from luxxon.admin.cli import DEFAULT_SCOPES
from luxxon.config import get_settings
from luxxon.db.sessions import PgSessionStore
from luxxon.domain.identity import hash_key
from luxxon.domain.ports.money import Credit
from luxxon.domain.sessions import SessionService
from luxxon.models.sessions import CreateSessionRequest
from tests.bench.common import local_chain, options, p50, p99, scratch_database, timed

N = 1000
WARMUP = 100  # rounds that warm imports, plans and the kept-alive RPC connection, not counted


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=N, help="timed rounds, each measuring the three in turn")
    parser.add_argument("--warmup", type=int, default=WARMUP, help="rounds before them, not counted")
    args = options(parser, rounds=10, warmup=3)
    warnings.simplefilter("ignore")
    with local_chain() as chain:
        with scratch_database("lx_bench_credit"):
            wallet = chain.fresh_account()
            chain.fund(wallet, 10**15)
            _, key = wiring.workspaces().bootstrap("c", ["CONSUMER"], DEFAULT_SCOPES["CONSUMER"], wallet_address=wallet)
            me = wiring.workspace_store().principal_by_key_hash(hash_key(key.key))
            assert me is not None
            request = CreateSessionRequest(lat=4.7, lng=-74.0, maxDurationSeconds=60)
            reader = wiring.wallet_reader()
            inside: list[float] = []  # the eth_call as the checked creates make it

            class TimedReader:
                def credit(self, address: str) -> Credit:
                    started = time.perf_counter_ns()
                    out = reader.credit(address)
                    inside.append((time.perf_counter_ns() - started) / 1000)
                    return out

            def service(credit_check: bool) -> SessionService:
                settings = get_settings().model_copy(update={"credit_check": credit_check})
                return SessionService(PgSessionStore(), settings, pricing=wiring.pricing(), chain=TimedReader)

            checked, unchecked = service(True), service(False)

            def create_then_cancel(service: SessionService) -> float:
                """One timed create; its session is then cancelled (untimed), so the wallet holds one session at a
                time and the point's demand stays flat, as for a consumer requesting one feed after another."""
                started = time.perf_counter_ns()
                created = service.create(me, request).value
                elapsed = (time.perf_counter_ns() - started) / 1000
                checked.cancel(me, created.id)
                return elapsed

            # Interleaved, so the machine's drift falls on all three alike.
            samples: dict[str, list[float]] = {"with the credit check": [], "without it": [], "rpc": []}
            for i in range(args.warmup + args.rounds):
                rounds = (
                    ("with the credit check", lambda: create_then_cancel(checked)),
                    ("without it", lambda: create_then_cancel(unchecked)),
                    ("rpc", lambda: timed(lambda: reader.credit(wallet), 1)[0]),
                )
                for label, measure in rounds[i % 3 :] + rounds[: i % 3]:
                    elapsed = measure()
                    if i >= args.warmup:
                        samples[label].append(elapsed)
    rpc = samples.pop("rpc")
    del inside[: args.warmup]
    for label, times in samples.items():
        print(f"  POST /sessions (in process) {label:<24} p50 {p50(times):8.0f} us   p99 {p99(times):8.0f} us")
    with_check, without = p50(samples["with the credit check"]), p50(samples["without it"])
    print(f"  difference                                            {with_check - without:8.0f} us")
    paired = [w - o for w, o in zip(samples["with the credit check"], samples["without it"], strict=True)]
    print(f"  difference, median of the {len(paired)} rounds' own differences  {p50(paired):8.0f} us")
    print(f"  the credit eth_call inside those creates               p50 {p50(inside):8.0f} us")
    print(f"  the credit eth_call alone (CreditReader: block, deposits, pending) p50 {p50(rpc):6.0f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
