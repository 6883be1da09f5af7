"""Teams' limits across instances (``PostgresRateLimiter``): a slot counts from when it is
taken until its call has its answer, so a call that reaches Teams late (a busy host, a slow
network) is still counted in every window it may land in: no timing assumption."""

from __future__ import annotations

import asyncio

import pytest

from bot.storage.postgres import PostgresStore
from bot.storage.postgres_coordination import PostgresRateLimiter, Sleep

# One call per thread in a window of no length: only a call in flight can fill it.
LIMITS = {"thread_windows": [(0.0, 1)], "tenant_windows": [(0.0, 100)], "margin": False}


class Waits:
    """The limiter's sleep: notes each wait, then waits for the test to let it look again."""

    def __init__(self) -> None:
        self.asked: list[float] = []
        self.waiting = asyncio.Event()
        self.look_again = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        self.waiting.set()
        await self.look_again.wait()


def limiter(store: PostgresStore, sleep: Sleep = asyncio.sleep) -> PostgresRateLimiter:
    return PostgresRateLimiter(store, sleep=sleep, **LIMITS)  # type: ignore[arg-type]


async def test_a_call_in_flight_keeps_its_slot_until_it_has_its_answer(pg_url: str) -> None:
    a, b = PostgresStore(pg_url), PostgresStore(pg_url)
    await asyncio.gather(a.open(), b.open())
    waits = Waits()
    first, second = limiter(a), limiter(b, waits)
    answered, took = asyncio.Event(), asyncio.Event()
    order: list[str] = []

    async def call_in_flight() -> None:
        async with first.slot("t", "thread"):
            took.set()
            await answered.wait()  # the call to Teams, still without its answer
            order.append("first answered")

    async def other_instance() -> None:
        await took.wait()
        async with second.slot("t", "thread"):
            order.append("second sent")

    call, other = asyncio.create_task(call_in_flight()), asyncio.create_task(other_instance())
    await asyncio.wait_for(waits.waiting.wait(), 30)  # the other instance must wait...
    assert order == [] and waits.asked
    async with second.slot("t", "other thread"):
        order.append("other thread sent")  # ...but not on another thread
    answered.set()
    await asyncio.wait_for(call, 30)
    waits.look_again.set()
    await asyncio.wait_for(other, 30)
    assert order == ["other thread sent", "first answered", "second sent"]
    await asyncio.gather(a.close(), b.close())


async def test_a_failed_call_ends_its_slot(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    await store.open()
    waits = Waits()
    limits = limiter(store, waits)
    with pytest.raises(ConnectionResetError):
        async with limits.slot("t", "thread"):
            raise ConnectionResetError
    async with limits.slot("t", "thread"):  # at once: no wait was asked for
        pass
    assert waits.asked == []
    await store.close()


async def test_a_back_off_holds_the_thread_for_every_instance(pg_url: str) -> None:
    a, b = PostgresStore(pg_url), PostgresStore(pg_url)
    await asyncio.gather(a.open(), b.open())
    waits = Waits()
    first, second = limiter(a), limiter(b, waits)
    sent: list[str] = []

    async def send() -> None:
        async with second.slot("t", "thread"):
            sent.append("thread")

    await first.back_off("thread", 60.0)
    held = asyncio.create_task(send())
    await asyncio.wait_for(waits.waiting.wait(), 30)
    assert 30.0 < waits.asked[0] <= 60.0  # told to wait out the Retry-After
    async with second.slot("t", "other thread"):
        sent.append("other thread")
    held.cancel()
    with pytest.raises(asyncio.CancelledError):
        await held
    assert sent == ["other thread"]
    await asyncio.gather(a.close(), b.close())
