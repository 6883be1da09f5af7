"""stop_task: a background task that drops a cancellation (as Python 3.11's asyncio.wait_for
can, CPython gh-86296) is cancelled again until it ends."""

from __future__ import annotations

import asyncio

from bot.retry import stop_task


async def test_a_task_that_swallows_its_first_cancellation_is_stopped() -> None:
    dropped = 0

    async def loop_on() -> None:
        nonlocal dropped
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if dropped == 0:  # as wait_for does when its inner future completes meanwhile
                    dropped += 1
                    continue
                raise

    task = asyncio.create_task(loop_on())
    await asyncio.sleep(0)
    await asyncio.wait_for(stop_task(task, every=0.01), timeout=10)
    assert task.cancelled() and dropped == 1


async def test_a_task_that_honours_the_cancellation_ends_without_a_wait() -> None:
    task = asyncio.create_task(asyncio.sleep(3600))
    await asyncio.sleep(0)
    # Fails (TimeoutError) if stop_task waited out its period after the task had ended.
    await asyncio.wait_for(stop_task(task, every=3600), timeout=10)
    assert task.cancelled()
