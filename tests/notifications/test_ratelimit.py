"""Teams' per-thread and per-tenant limits, on a fake clock."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.notifications.ratelimit import (
    TENANT_WINDOWS,
    THREAD_WINDOWS,
    TeamsRateLimiter,
    thread_of,
)
from tests.notifications.support import FakeClock


def within(times: list[float], windows: tuple[tuple[float, int], ...]) -> bool:
    times = sorted(times)
    for span, limit in windows:
        for i, start in enumerate(times):
            count = sum(1 for t in times[i:] if t < start + span - 1e-9)
            if count > limit:
                return False
    return True


async def run(
    limiter: TeamsRateLimiter, clock: FakeClock, ops: list[tuple[str, str]]
) -> list[float]:
    starts: list[float] = []

    async def one(tenant: str, thread: str) -> None:
        await limiter.acquire(tenant, thread)
        starts.append(clock.now)

    for tenant, thread in ops:
        await one(tenant, thread)
    return starts


async def test_a_burst_on_one_thread_follows_every_window() -> None:
    clock = FakeClock(0.0)
    limiter = TeamsRateLimiter(clock=clock, sleep=clock.sleep, margin=False)
    starts = await run(limiter, clock, [("t", "c")] * 70)
    assert starts[:7] == [0.0] * 7
    assert starts[7] == 1.0 and starts[8] == 2.0
    assert within(starts, THREAD_WINDOWS)
    # 60 in 30 s: the 61st waits for the first of them to leave the window.
    assert starts[60] >= starts[0] + 30.0


async def test_threads_are_independent_but_share_the_tenant_limit() -> None:
    clock = FakeClock(0.0)
    limiter = TeamsRateLimiter(clock=clock, sleep=clock.sleep, margin=False)
    ops = [("t", f"c{i}") for i in range(60)]
    starts = await run(limiter, clock, ops)
    assert starts[:50] == [0.0] * 50 and starts[50] == 1.0
    assert within(starts, TENANT_WINDOWS)


async def test_back_off_holds_only_that_thread() -> None:
    clock = FakeClock(0.0)
    limiter = TeamsRateLimiter(clock=clock, sleep=clock.sleep)
    limiter.back_off("c1", 5.0)
    assert limiter.try_acquire("t", "c2") == 0.0
    assert limiter.try_acquire("t", "c1") == 5.0
    await limiter.acquire("t", "c1")
    assert clock.now == 5.0


@settings(max_examples=60, deadline=None)
@given(
    gaps=st.lists(st.floats(min_value=0, max_value=3, allow_nan=False), min_size=1, max_size=120),
    threads=st.integers(min_value=1, max_value=3),
    jitter=st.lists(st.floats(min_value=0, max_value=0.25), min_size=120, max_size=120),
)
def test_any_arrival_pattern_stays_within_the_limits(
    gaps: list[float], threads: int, jitter: list[float]
) -> None:
    """Even when each request reaches Teams up to 250 ms after it started."""
    clock = FakeClock(0.0)
    limiter = TeamsRateLimiter(clock=clock, sleep=clock.sleep)
    per_thread: dict[str, list[float]] = {}

    async def scenario() -> None:
        for i, gap in enumerate(gaps):
            clock.now += gap
            thread = f"c{i % threads}"
            await limiter.acquire("t", thread)
            per_thread.setdefault(thread, []).append(clock.now + jitter[i])

    asyncio.run(scenario())
    for starts in per_thread.values():
        assert within(starts, THREAD_WINDOWS)


async def test_the_margin_keeps_a_little_more_than_the_documented_distance() -> None:
    clock = FakeClock(0.0)
    limiter = TeamsRateLimiter(clock=clock, sleep=clock.sleep)
    starts = await run(limiter, clock, [("t", "c")] * 9)
    assert starts[:7] == [0.0] * 7
    assert 1.25 <= starts[7] <= 1.35 and 2.25 <= starts[8] <= 2.4


def test_replies_count_on_their_channel() -> None:
    assert thread_of("19:abc@thread.tacv2;messageid=17") == "19:abc@thread.tacv2"
    assert thread_of("a:personal") == "a:personal"


async def test_the_1801st_call_in_an_hour_waits_until_the_hour_has_passed() -> None:
    clock = FakeClock(0.0)
    limiter = TeamsRateLimiter(clock=clock, sleep=clock.sleep, margin=False)
    starts = await run(limiter, clock, [("t", "c")] * 1801)
    # 1,800 fit in the hour (paced by the 60-in-30-s window: about 870 s)...
    assert starts[1799] < 900.0
    # ...and the next one waits for the first of them to leave the hour, not just 30 s.
    assert starts[1800] == starts[0] + 3600.0
    assert starts[1800] - starts[1799] > 2700.0
    # The hour is per thread: another thread of the same tenant goes at once.
    assert limiter.try_acquire("t", "c2") == 0.0


async def test_the_hourly_window_keeps_its_margin_too() -> None:
    clock = FakeClock(0.0)
    limiter = TeamsRateLimiter(clock=clock, sleep=clock.sleep)
    starts = await run(limiter, clock, [("t", "c")] * 1801)
    assert starts[1800] >= starts[0] + 3600.0 * 1.02 + 0.25 - 1e-6
    assert starts[1800] <= starts[0] + 3600.0 * 1.02 + 0.25 + 1e-6
