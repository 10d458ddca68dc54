"""The per-address edge limit: its definition (luxxon.api.edge_limit) and how the local gateway counts it
(luxxon.local.gateway.AddressLimit), on a clock the test moves."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from luxxon.api.edge_limit import EDGE_LIMITS, LOCAL_DEFAULT, EdgeLimit, configured
from luxxon.local.gateway import AddressLimit

LIMIT = EdgeLimit(requests=10, window_s=60)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_address_is_served_the_limit_in_a_window_then_refused_while_another_address_is_served() -> None:
    # Given the local count of a limit of 10 requests a minute
    clock = Clock()
    edge = AddressLimit(LIMIT, clock)
    # When one address sends 11 requests within a second
    served = []
    for _ in range(11):
        served.append(edge.admit("198.51.100.7"))
        clock.now += 0.05
    # Then the first 10 are served and the 11th is refused; another address is served meanwhile
    assert served == [True] * 10 + [False]
    assert edge.admit("203.0.113.9")


def test_a_refused_client_that_keeps_sending_stays_refused() -> None:
    # Given an address over the limit
    clock = Clock()
    edge = AddressLimit(LIMIT, clock)
    for _ in range(11):
        edge.admit("198.51.100.7")
    # When it goes on sending, one request every 5 s for three minutes (12 a minute, over 10)
    refused = []
    for _ in range(36):
        clock.now += 5
        refused.append(not edge.admit("198.51.100.7"))
    # Then every one of them is refused: refused requests count, as WAF counts every request it evaluates
    assert all(refused)


def test_a_refused_client_that_waits_retry_after_is_served_again() -> None:
    # Given an address refused at some moment
    clock = Clock()
    edge = AddressLimit(LIMIT, clock)
    for _ in range(10):
        edge.admit("198.51.100.7")
    assert not edge.admit("198.51.100.7")
    # When it sends nothing for the Retry-After it was given (the window and WAF's release delay)
    clock.now += LIMIT.retry_after_s
    # Then it is served again, a full window's worth
    assert [edge.admit("198.51.100.7") for _ in range(10)] == [True] * 10


@given(st.lists(st.floats(min_value=0, max_value=5, allow_nan=False), min_size=1, max_size=120))
def test_a_request_is_refused_exactly_when_its_address_sent_the_limit_in_the_last_window(gaps: list[float]) -> None:
    # Given any sequence of requests from one address (the gaps between them, in seconds)
    clock = Clock()
    edge = AddressLimit(LIMIT, clock)
    times: list[float] = []
    for gap in gaps:
        clock.now += gap
        # When it sends the next one
        admitted = edge.admit("198.51.100.7")
        # Then it is refused if and only if the address sent (served or not) 10 requests in the 60 s before it
        sent_in_window = sum(1 for t in times if clock.now - t < LIMIT.window_s)
        assert admitted == (sent_in_window < LIMIT.requests)
        times.append(clock.now)


def test_a_limit_is_what_a_waf_rate_based_rule_accepts() -> None:
    assert EdgeLimit.parse("3000/60") == EdgeLimit(3000, 60) and str(EdgeLimit(3000, 60)) == "3000/60"
    # WAF's windows are 1, 2, 5 or 10 minutes and its lowest limit is 10 requests
    for text in ("3000/30", "3000/90", "9/60", "0/60", "3000", "a/60", "3000/"):
        with pytest.raises(ValueError):
            EdgeLimit.parse(text)


def test_the_local_gateway_limits_as_prod_does_unless_configured() -> None:
    assert configured(None) == configured("") == LOCAL_DEFAULT == EDGE_LIMITS["prod"]
    assert configured("off") is None
    assert configured("20/60") == EdgeLimit(20, 60)


def test_retry_after_is_the_window_and_wafs_release_delay() -> None:
    assert EDGE_LIMITS["prod"].headers == {"Retry-After": "90"}
