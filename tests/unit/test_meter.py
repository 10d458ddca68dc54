"""The meter: floor of the wall time, minus the union of disconnect windows (counted once), capped by the hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from luxxon.domain import meter

T0 = datetime(2026, 5, 13, 12, 0, tzinfo=UTC)
MS = timedelta(milliseconds=1)


def at(ms: int) -> datetime:
    return T0 + ms * MS


def brute_force_clean_seconds(
    start_ms: int, end_ms: int, windows: list[tuple[int, int | None]], max_duration: int
) -> int:
    """Reference: mark every billable, disconnected millisecond one by one. Billable: [start, start + max_duration)
    and before the end; past the maximum duration nothing is billed, windows there included."""
    billed_until = min(end_ms, start_ms + max_duration * 1000)
    down = set()
    for opened, closed in windows:
        down.update(range(max(opened, start_ms), min(billed_until if closed is None else closed, billed_until)))
    wall = max(0, billed_until - start_ms) // 1000
    gap = -(-len(down) // 1000)
    return max(0, wall - gap)


windows_strategy = st.lists(
    st.tuples(st.integers(-5_000, 40_000), st.one_of(st.none(), st.integers(0, 20_000))).map(
        lambda w: (w[0], None if w[1] is None else w[0] + w[1])
    ),
    max_size=6,
)


@given(
    start=st.integers(0, 5_000),
    length=st.integers(0, 40_000),
    windows=windows_strategy,
    max_duration=st.integers(1, 45),
)
def test_clean_seconds_matches_a_millisecond_by_millisecond_count(
    start: int, length: int, windows: list[tuple[int, int | None]], max_duration: int
) -> None:
    # Given a LIVE span, often running past its maximum duration, and any set of windows (overlapping, open, outside
    # the span, past the maximum)
    spans = [(at(o), None if c is None else at(c)) for o, c in windows]
    # When the meter runs
    got = meter.clean_seconds(at(start), at(start + length), spans, max_duration)
    # Then it equals the brute-force count
    assert got == brute_force_clean_seconds(start, start + length, windows, max_duration)


US = timedelta(microseconds=1)


def reference_clean_seconds_us(start: int, end: int, windows: list[tuple[int, int | None]], max_duration: int) -> int:
    """Reference at the database's resolution (microseconds): cut the billable span at every window edge inside it
    and add up the pieces some window covers (a piece is wholly inside or outside each window)."""
    billed_until = min(end, start + max_duration * 1_000_000)
    edges = {t for window in windows for t in window if t is not None and start < t < billed_until}
    cuts = sorted({start, max(start, billed_until), *edges})
    down = sum(
        b - a for a, b in zip(cuts, cuts[1:], strict=False) if any(o <= a and (c is None or b <= c) for o, c in windows)
    )
    wall = max(0, billed_until - start) // 1_000_000
    return max(0, wall - -(-down // 1_000_000))


def microseconds(low_s: int, high_s: int) -> st.SearchStrategy[int]:
    """Instants (or lengths) in microseconds, often a microsecond either side of a whole second."""
    offsets = st.sampled_from([0, 1, 999_999]) | st.integers(0, 999_999)
    return st.builds(lambda s, us: s * 1_000_000 + us, st.integers(low_s, high_s), offsets)


us_windows_strategy = st.lists(
    st.tuples(microseconds(-5, 40), st.one_of(st.none(), microseconds(0, 20))).map(
        lambda w: (w[0], None if w[1] is None else w[0] + w[1])
    ),
    max_size=6,
)


@given(
    start=microseconds(0, 5),
    length=microseconds(0, 40),
    windows=us_windows_strategy,
    max_duration=st.integers(1, 45),
)
def test_clean_seconds_round_at_the_microsecond_the_database_keeps(
    start: int, length: int, windows: list[tuple[int, int | None]], max_duration: int
) -> None:
    # Given timestamps with microseconds, as PostgreSQL stores them (a window of 1 s and 1 µs costs 2 s)
    spans = [(T0 + o * US, None if c is None else T0 + c * US) for o, c in windows]
    # When the meter runs
    got = meter.clean_seconds(T0 + start * US, T0 + (start + length) * US, spans, max_duration)
    # Then it equals the reference at that resolution
    assert got == reference_clean_seconds_us(start, start + length, windows, max_duration)


def test_a_microsecond_past_a_whole_second_of_disconnection_costs_a_second() -> None:
    window = [(T0 + 5 * timedelta(seconds=1), T0 + 6 * timedelta(seconds=1) + US)]
    assert meter.clean_seconds(T0, T0 + timedelta(seconds=10), window, 600) == 8
    assert meter.clean_seconds(T0, T0 + timedelta(seconds=10) - US, [], 600) == 9


@given(length_ms=st.integers(0, 10_000_000), rate=st.integers(0, 10**9), max_duration=st.integers(1, 14_400))
def test_charge_is_clean_seconds_times_rate_and_never_above_the_hold(
    length_ms: int, rate: int, max_duration: int
) -> None:
    bill = meter.run(at(0), at(length_ms), [], rate, max_duration)
    assert bill.clean_seconds == min(length_ms // 1000, max_duration)
    assert bill.charged_micro_usdc == bill.clean_seconds * rate
    assert bill.charged_micro_usdc <= rate * max_duration


def test_wall_time_is_floored_to_whole_seconds() -> None:
    assert meter.clean_seconds(at(0), at(2_999), [], 600) == 2
    assert meter.clean_seconds(at(0), at(3_000), [], 600) == 3


def test_overlapping_windows_of_different_reasons_count_once() -> None:
    # NETWORK_ERROR 10s-20s and OUTSIDE_GEOFENCE 15s-25s: 15 s down, not 20 s
    windows = [(at(10_000), at(20_000)), (at(15_000), at(25_000))]
    assert meter.clean_seconds(at(0), at(60_000), windows, 600) == 45


def test_an_open_window_runs_to_the_end_and_a_partial_second_is_not_charged() -> None:
    assert meter.clean_seconds(at(0), at(10_000), [(at(8_500), None)], 600) == 8


def test_windows_outside_the_live_span_do_not_count() -> None:
    windows = [(at(-5_000), at(-1_000)), (at(11_000), at(12_000))]
    assert meter.clean_seconds(at(0), at(10_000), windows, 600) == 10


def test_an_overrun_is_billed_up_to_the_maximum_duration_minus_the_windows_inside_it() -> None:
    # Given a 600 s session disconnected for 50 s, ended by the sweep at 660 s (60 s past its maximum)
    windows = [(at(100_000), at(150_000))]
    # Then 550 clean seconds are billed, not 600 (the overrun does not refill the disconnected time)
    assert meter.clean_seconds(at(0), at(660_000), windows, 600) == 550


def test_a_window_open_past_the_maximum_duration_counts_only_inside_it() -> None:
    assert meter.clean_seconds(at(0), at(700_000), [(at(590_000), None)], 600) == 590
