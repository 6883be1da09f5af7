"""Teams' per-thread and per-tenant limits, on a fake clock."""

from __future__ import annotations

import asyncio
import heapq
import math

import pytest
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
        async with limiter.slot(tenant, thread):  # a call answered at once
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
    await limiter.back_off("c1", 5.0)
    async with limiter.slot("t", "c2"):
        assert clock.now == 0.0
    async with limiter.slot("t", "c1"):
        assert clock.now == 5.0


def simulate(
    limiter: TeamsRateLimiter, clock: FakeClock, calls: list[tuple[float, str, float, float]]
) -> dict[str, list[float]]:
    """Run ``calls`` (when each is ready, its thread, how long until its answer, and how far
    into that time it reaches Teams, 0 to 1) through the limiter's own ``try_acquire`` and
    ``release``, in simulated time: every caller asks again when told to, or when a call in
    flight has its answer. Returns the times the calls reached Teams, per thread."""
    events: list[tuple[float, int, int]] = []  # (time, 0 = an answer, 1 = a try; call index)
    for i, (ready, *_) in enumerate(calls):
        heapq.heappush(events, (ready, 1, i))
    waiting: list[int] = []
    arrivals: dict[str, list[float]] = {}
    while events:
        clock.now, kind, i = heapq.heappop(events)
        _, thread, duration, share = calls[i]
        if kind == 0:
            limiter.release("t", thread)
            for j in waiting:  # an answer frees a slot: everyone blocked by one asks again
                heapq.heappush(events, (clock.now, 1, j))
            waiting.clear()
            continue
        wait = limiter.try_acquire("t", thread)
        if wait == 0:
            arrivals.setdefault(thread, []).append(clock.now + share * duration)
            heapq.heappush(events, (clock.now + duration, 0, i))
        elif math.isinf(wait):
            waiting.append(i)
        else:
            heapq.heappush(events, (clock.now + wait, 1, i))
    assert not waiting and sum(map(len, arrivals.values())) == len(calls)  # all went
    return arrivals


@settings(max_examples=80, deadline=None)
@given(
    calls=st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=0.5, allow_nan=False),  # gap since the last ready
            st.integers(min_value=0, max_value=2),  # which thread
            st.floats(min_value=0, max_value=2, allow_nan=False),  # seconds to the answer
            st.floats(min_value=0, max_value=1, allow_nan=False),  # where in it Teams counts
        ),
        min_size=1,
        max_size=150,
    ),
    margin=st.booleans(),
)
def test_any_arrival_before_the_answer_stays_within_the_limits(
    calls: list[tuple[float, int, float, float]], margin: bool
) -> None:
    """However late a call reaches Teams (up to its answer, seconds later) and however many are
    in flight at once: Teams never sees more than a window allows, without any margin."""
    clock = FakeClock(0.0)
    limiter = TeamsRateLimiter(
        clock=clock, sleep=clock.sleep, tenant_windows=((1.0, 10),), margin=margin
    )
    ready, timeline = 0.0, []
    for gap, thread, duration, share in calls:
        ready += gap
        timeline.append((ready, f"c{thread}", duration, share))
    arrivals = simulate(limiter, clock, timeline)
    for times in arrivals.values():
        assert within(times, THREAD_WINDOWS)
    assert within([t for times in arrivals.values() for t in times], ((1.0, 10),))


async def test_a_slow_answer_holds_its_slot_and_its_window_counts_from_the_answer() -> None:
    clock = FakeClock(0.0)
    limiter = TeamsRateLimiter(
        clock=clock, sleep=clock.sleep, thread_windows=((1.0, 1),), margin=False
    )
    answered, asked = asyncio.Event(), asyncio.Event()
    order: list[tuple[str, float]] = []

    async def slow_call() -> None:
        async with limiter.slot("t", "c"):
            order.append(("slow call sent", clock.now))
            asked.set()
            await answered.wait()  # the connector hasn't answered yet
            order.append(("answer", clock.now))

    async def next_call() -> None:
        await asked.wait()
        async with limiter.slot("t", "c"):
            order.append(("next call sent", clock.now))

    slow, following = asyncio.create_task(slow_call()), asyncio.create_task(next_call())
    await asked.wait()
    clock.now = 10.0  # far past the window: only the answer frees the slot
    for _ in range(5):
        await asyncio.sleep(0)
    assert not following.done() and limiter.try_acquire("t", "c") == math.inf
    assert limiter.try_acquire("t", "other thread") == 0.0  # another thread isn't held
    limiter.release("t", "other thread")
    answered.set()
    await asyncio.gather(slow, following)
    # The window counts from the answer: the next call goes one second after it.
    assert order == [("slow call sent", 0.0), ("answer", 10.0), ("next call sent", 11.0)]


async def test_a_failed_call_ends_its_slot_too() -> None:
    clock = FakeClock(0.0)
    limiter = TeamsRateLimiter(
        clock=clock, sleep=clock.sleep, thread_windows=((1.0, 1),), margin=False
    )
    with pytest.raises(ConnectionResetError):
        async with limiter.slot("t", "c"):
            clock.now = 3.0
            raise ConnectionResetError
    assert limiter.try_acquire("t", "c") == 1.0  # a second from the failure, not from the start
    clock.now = 4.0
    assert limiter.try_acquire("t", "c") == 0.0


async def test_the_margin_keeps_a_little_more_than_the_documented_distance() -> None:
    clock = FakeClock(0.0)
    limiter = TeamsRateLimiter(clock=clock, sleep=clock.sleep)
    starts = await run(limiter, clock, [("t", "c")] * 9)
    assert starts[:7] == [0.0] * 7
    assert starts[7] == pytest.approx(1.05) and starts[8] == pytest.approx(2.05)


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
    limiter.release("t", "c2")


async def test_the_hourly_window_keeps_its_margin_too() -> None:
    clock = FakeClock(0.0)
    limiter = TeamsRateLimiter(clock=clock, sleep=clock.sleep)
    starts = await run(limiter, clock, [("t", "c")] * 1801)
    assert starts[1800] == pytest.approx(starts[0] + 3600.05)
