"""The decoder's pure policy: which sessions need a decoder, lease reconciliation, the fence, backoff, frame cadence,
media gaps."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from luxxon.domain.decoder import (
    Backoff,
    Cadence,
    CpuGauge,
    Fence,
    FrameWrite,
    GapStep,
    LeaseStatus,
    MediaGap,
    needs_decoder,
    owner_id,
    reconcile,
)

URL = "https://edge.example/whep/abc"


@pytest.mark.parametrize(
    ("state", "url", "needed"),
    [
        ("ASSIGNED", URL, True),
        ("LIVE", URL, True),
        ("PAUSED", URL, True),
        ("ASSIGNED", None, False),  # not started: no live input yet
        ("ENDED", URL, False),
        ("CANCELLED", None, False),
        ("EXPIRED", None, False),
        ("REQUESTED", None, False),
    ],
)
def test_a_session_needs_a_decoder_from_start_until_it_is_terminal(state: str, url: str | None, needed: bool) -> None:
    assert needs_decoder(state, url) is needed


def test_an_owner_names_the_host_the_process_and_its_incarnation() -> None:
    assert owner_id("ip-10-0-1-7", 4242, "9f3c") == "ip-10-0-1-7:4242:9f3c"


class TestReconcile:
    def test_sessions_still_leased_and_active_keep_running(self) -> None:
        plan = reconcile({"a": URL}, [LeaseStatus("a", "LIVE", URL, renewed=True)])
        assert (plan.stop_ended, plan.stop_lost, plan.resubscribe) == ([], [], {})

    def test_a_terminal_session_is_stopped_as_ended(self) -> None:
        plan = reconcile(
            {"a": URL, "b": URL}, [LeaseStatus("a", "ENDED", None, False), LeaseStatus("b", "LIVE", URL, True)]
        )
        assert plan.stop_ended == ["a"] and plan.stop_lost == []

    def test_a_session_missing_from_the_renewal_was_lost(self) -> None:
        # another process took it over after expiry, or the session row is gone
        plan = reconcile({"a": URL, "b": URL}, [LeaseStatus("b", "LIVE", URL, True)])
        assert plan.stop_lost == ["a"] and plan.stop_ended == []

    def test_a_lease_released_by_the_renewal_stops_the_session(self) -> None:
        plan = reconcile({"a": URL}, [LeaseStatus("a", "LIVE", URL, renewed=False)])
        assert plan.stop_ended == ["a"]

    def test_a_new_whep_url_means_subscribe_again(self) -> None:
        plan = reconcile({"a": URL}, [LeaseStatus("a", "ASSIGNED", URL + "2", True)])
        assert plan.resubscribe == {"a": URL + "2"}

    def test_leases_not_decoded_here_need_no_action(self) -> None:
        plan = reconcile({}, [LeaseStatus("x", "ENDED", None, False)])
        assert (plan.stop_ended, plan.stop_lost, plan.resubscribe) == ([], [], {})


class TestFence:
    def test_nothing_is_held_before_the_first_renewal(self) -> None:
        assert not Fence(6.0).holds(0.0)

    def test_a_renewal_holds_until_ttl_minus_the_margin_after_it_was_sent(self) -> None:
        fence = Fence(6.0, margin_s=1.0)
        fence.renewed(sent_at=100.0)
        assert fence.holds(104.9) and not fence.holds(105.0)

    def test_a_late_answer_to_an_older_renewal_never_shortens_the_fence(self) -> None:
        fence = Fence(6.0, margin_s=1.0)
        fence.renewed(sent_at=110.0)
        fence.renewed(sent_at=100.0)
        assert fence.holds(114.0)

    @given(st.floats(0.5, 60), st.floats(0, 0.4), st.floats(0, 1e6))
    def test_the_fence_always_ends_before_the_database_lease(
        self, ttl: float, margin_share: float, sent: float
    ) -> None:
        # The database stamps expiry at execution, which is after the request was sent.
        fence = Fence(ttl, margin_s=ttl * margin_share + 1e-3)
        fence.renewed(sent)
        database_expiry = sent + ttl
        assert not fence.holds(database_expiry)


class TestBackoff:
    def test_delays_grow_to_the_cap_within_their_jitter_and_reset(self) -> None:
        backoff = Backoff(0.25, 5.0, rng=random.Random(1))
        delays = [backoff.next() for _ in range(8)]
        nominal = [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
        assert all(n / 2 <= d <= n for d, n in zip(delays, nominal, strict=True))
        backoff.reset()
        assert backoff.next() <= 0.25


class TestCadence:
    def test_nothing_is_written_before_the_first_frame(self) -> None:
        assert Cadence().due(now=10.0, seq=0) is FrameWrite.NONE

    def test_the_first_frame_is_written_at_once(self) -> None:
        assert Cadence(interval_s=1.0).due(now=10.0, seq=1) is FrameWrite.WRITE

    def test_then_at_most_once_per_interval(self) -> None:
        cadence = Cadence(interval_s=1.0)
        cadence.written(10.0, seq=1)
        assert cadence.due(10.5, seq=15) is FrameWrite.NONE
        assert cadence.next_check(10.5) == pytest.approx(0.5)
        assert cadence.due(11.0, seq=30) is FrameWrite.WRITE

    def test_without_a_new_frame_nothing_is_written_until_the_refresh(self) -> None:
        cadence = Cadence(interval_s=1.0, refresh_s=20.0)
        cadence.written(10.0, seq=30)
        assert cadence.due(12.0, seq=30) is FrameWrite.NONE
        assert cadence.due(30.0, seq=30) is FrameWrite.REFRESH
        cadence.written(30.0, seq=30)
        assert cadence.due(31.0, seq=31) is FrameWrite.WRITE

    @given(st.lists(st.floats(0.01, 3.0), min_size=1, max_size=50))
    def test_written_frames_are_never_closer_than_the_interval(self, gaps: list[float]) -> None:
        cadence, now, seq, writes = Cadence(interval_s=1.0), 0.0, 0, []
        for gap in gaps:
            now += gap
            seq += 1
            if cadence.due(now, seq) is FrameWrite.WRITE:
                cadence.written(now, seq)
                writes.append(now)
        assert all(b - a >= 1.0 - 1e-3 for a, b in zip(writes, writes[1:], strict=False))


class TestCpuGauge:
    def test_the_first_sample_only_sets_the_origin(self) -> None:
        assert CpuGauge().sample(wall=10.0, cpu=3.0) == 0.0

    def test_the_share_of_a_core_follows_cpu_time_over_wall_time(self) -> None:
        gauge = CpuGauge(smoothing=0.5)
        gauge.sample(0.0, 0.0)
        assert gauge.sample(1.0, 0.8) == pytest.approx(0.8)  # the first measurement is taken as it is
        assert gauge.sample(2.0, 1.0) == pytest.approx(0.5)  # then averaged: 0.5 * 0.2 + 0.5 * 0.8

    def test_a_clock_that_did_not_move_changes_nothing(self) -> None:
        gauge = CpuGauge()
        gauge.sample(1.0, 0.0)
        gauge.sample(2.0, 0.5)
        assert gauge.sample(2.0, 0.9) == pytest.approx(0.5)


class TestMediaGap:
    def test_nothing_is_due_before_the_first_frame_nor_within_the_threshold(self) -> None:
        gap = MediaGap(threshold_s=3.0)
        assert gap.due(100.0) is None
        gap.frame(100.0)
        assert gap.due(102.9) is None

    def test_a_gap_opens_at_the_last_frame_once_nothing_decoded_for_the_threshold(self) -> None:
        gap = MediaGap(threshold_s=3.0)
        for at in (100.0, 100.1, 100.2):
            gap.frame(at)
        assert gap.due(103.2) == (GapStep.OPEN, 100.2)

    def test_it_closes_at_the_first_frame_after_the_gap(self) -> None:
        gap = MediaGap(threshold_s=3.0)
        gap.frame(100.0)
        step, at = gap.due(104.0) or (None, None)
        gap.recorded(GapStep.OPEN, True)
        assert gap.due(110.0) is None  # still no frame: nothing more to record
        gap.frame(111.0)
        gap.frame(111.1)
        assert gap.due(111.2) == (GapStep.CLOSE, 111.0)
        gap.recorded(GapStep.CLOSE, True)
        assert gap.due(111.3) is None

    def test_frames_that_arrive_while_the_open_is_recorded_still_close_it(self) -> None:
        gap = MediaGap(threshold_s=3.0)
        gap.frame(100.0)
        assert gap.due(103.0) == (GapStep.OPEN, 100.0)
        gap.frame(103.1)  # on the decode thread, while the store is being asked
        gap.recorded(GapStep.OPEN, True)
        assert gap.due(103.2) == (GapStep.CLOSE, 103.1)

    def test_a_failed_store_call_is_asked_again_with_the_same_time(self) -> None:
        gap = MediaGap(threshold_s=3.0)
        gap.frame(100.0)
        assert gap.due(104.0) == (GapStep.OPEN, 100.0)
        gap.recorded(GapStep.OPEN, None)
        assert gap.due(105.0) == (GapStep.OPEN, 100.0)
        gap.recorded(GapStep.OPEN, True)
        gap.frame(106.0)
        assert gap.due(106.1) == (GapStep.CLOSE, 106.0)
        gap.recorded(GapStep.CLOSE, None)
        assert gap.due(106.2) == (GapStep.CLOSE, 106.0)

    def test_an_open_the_store_declines_is_not_asked_again_until_frames_resume(self) -> None:
        gap = MediaGap(threshold_s=3.0)
        gap.frame(100.0)
        gap.due(104.0)
        gap.recorded(GapStep.OPEN, False)  # e.g. the session is no longer metered
        assert gap.due(108.0) is None
        gap.frame(109.0)
        assert gap.due(109.1) == (GapStep.CLOSE, 109.0)

    def test_a_decoder_that_takes_a_live_session_over_closes_a_window_left_open_at_its_first_frame(self) -> None:
        gap = MediaGap(threshold_s=3.0, inherited=True)
        assert gap.due(100.0) is None
        gap.frame(100.5)
        assert gap.due(100.6) == (GapStep.CLOSE, 100.5)
        gap.recorded(GapStep.CLOSE, False)  # nothing was open
        assert gap.due(100.7) is None

    @given(
        frames=st.lists(st.floats(min_value=0, max_value=100, allow_nan=False), min_size=1, max_size=30),
        checks=st.lists(st.floats(min_value=0, max_value=120, allow_nan=False), min_size=1, max_size=30),
    )
    def test_a_window_always_opens_at_a_frame_and_closes_at_a_later_frame(
        self, frames: list[float], checks: list[float]
    ) -> None:
        gap, opened = MediaGap(threshold_s=3.0), None
        events = sorted([(t, "frame") for t in frames] + [(t, "check") for t in checks])
        for now, kind in events:
            if kind == "frame":
                gap.frame(now)
                continue
            due = gap.due(now)
            if due is None:
                continue
            step, at = due
            if step is GapStep.OPEN:
                assert at in frames and now - at >= 3.0
                opened = at
            else:
                assert opened is not None and at in frames and at > opened
                opened = None
            gap.recorded(step, True)
