"""Teams' limits across instances (``PostgresRateLimiter``): a slot counts from when it is
taken until its call has its answer, so a call that reaches Teams late (a busy host, a slow
network) is still counted in every window it may land in: no timing assumption."""

from __future__ import annotations

import asyncio

from bot.storage.postgres import PostgresStore
from bot.storage.postgres_coordination import PostgresRateLimiter


async def test_a_call_in_flight_keeps_its_slot_until_it_has_its_answer(pg_url: str) -> None:
    a, b = PostgresStore(pg_url), PostgresStore(pg_url)
    await asyncio.gather(a.open(), b.open())
    # One call per thread in a window of no length: only a call in flight can fill it.
    limits = {"thread_windows": [(0.0, 1)], "tenant_windows": [(0.0, 100)], "margin": False}
    first, second = PostgresRateLimiter(a, **limits), PostgresRateLimiter(b, **limits)  # type: ignore[arg-type]
    answered = asyncio.Event()
    took = asyncio.Event()

    async def call_in_flight() -> None:
        await first.acquire("t", "thread")
        took.set()
        await answered.wait()  # the call to Teams, still without its answer

    call = asyncio.create_task(call_in_flight())
    await took.wait()
    assert await second.try_acquire("t", "thread") > 0  # the other instance must wait
    assert await second.try_acquire("t", "other thread") == 0  # other threads don't
    answered.set()
    await call
    await first.settle()
    assert await second.try_acquire("t", "thread") == 0
    await second.settle()
    await asyncio.gather(a.close(), b.close())


async def test_the_next_acquire_of_a_delivery_ends_its_previous_call(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    await store.open()
    limiter = PostgresRateLimiter(
        store, thread_windows=[(0.0, 1)], tenant_windows=[(0.0, 100)], margin=False
    )

    async def post_then_reply() -> None:
        await limiter.acquire("t", "thread")  # the post
        await limiter.acquire("t", "thread")  # the reply: the post has its answer by now

    await asyncio.wait_for(post_then_reply(), 30)
    assert limiter.calls == 2
    await limiter.settle()
    await store.close()


async def test_a_task_started_by_another_keeps_its_own_call_in_flight(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    await store.open()
    limits = {"thread_windows": [(0.0, 1)], "tenant_windows": [(0.0, 100)], "margin": False}
    limiter, other = PostgresRateLimiter(store, **limits), PostgresRateLimiter(store, **limits)  # type: ignore[arg-type]
    answered, took = asyncio.Event(), asyncio.Event()

    async def child() -> None:
        await limiter.acquire("t", "child")
        took.set()
        await answered.wait()

    await limiter.acquire("t", "parent")
    task = asyncio.create_task(child())  # inherits the parent's context
    await took.wait()
    await limiter.acquire("t", "parent")  # ends the parent's first call, not the child's
    assert await other.try_acquire("t", "child") > 0
    answered.set()
    await task
    await limiter.settle()
    assert await other.try_acquire("t", "child") == 0
    await store.close()
