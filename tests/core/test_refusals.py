"""RefusalWatch: when a refusal is logged, and when most recent requests count as refused."""

from __future__ import annotations

from backline.core.refusals import RefusalWatch


def test_the_first_refusal_is_logged_then_one_summary_a_minute() -> None:
    watch = RefusalWatch()
    assert watch.observe(refused=True, now=0.0) == 1
    assert [watch.observe(refused=True, now=t) for t in (1.0, 2.0, 59.0)] == [0, 0, 0]
    assert watch.observe(refused=False, now=59.5) == 0
    assert watch.observe(refused=True, now=60.0) == 4  # the three held back, and this one
    assert watch.refused_total == 5 and watch.accepted_total == 1


def test_mostly_refused_needs_a_majority_and_a_few_refusals() -> None:
    watch = RefusalWatch()
    watch.observe(refused=True, now=0.0)
    watch.observe(refused=True, now=1.0)
    assert not watch.mostly_refused(2.0)  # a probe or two is not a wrong token
    watch.observe(refused=True, now=2.0)
    assert watch.mostly_refused(3.0)
    for t in range(3, 7):
        watch.observe(refused=False, now=float(t))
    assert not watch.mostly_refused(7.0)  # real calls get through: 3 of 7 refused


def test_old_requests_stop_counting() -> None:
    watch = RefusalWatch(window_seconds=600)
    for t in range(5):
        watch.observe(refused=True, now=float(t))
    assert watch.mostly_refused(10.0)
    assert watch.recent(700.0) == (0, 0)
    assert not watch.mostly_refused(700.0)
    assert watch.refused_total == 5  # the total stays


def test_memory_is_bounded_under_a_flood() -> None:
    watch = RefusalWatch(window_size=50)
    for t in range(10_000):
        watch.observe(refused=True, now=t / 1000)
    assert watch.recent(10.0) == (50, 50)
    assert watch.refused_total == 10_000
