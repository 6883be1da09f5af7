"""Bounded retry with capped exponential backoff, full jitter and Retry-After.

Clock, sleep and randomness are injected so that tests never wait.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

RETRYABLE_STATUS = frozenset({412, 429, 500, 502, 503, 504})

T = TypeVar("T")

Sleep = Callable[[float], Awaitable[None]]


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds or seconds < 0:  # NaN or past
        return 0.0
    return seconds


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts, and how long to wait between them."""

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 300.0

    def delay(
        self,
        attempt: int,
        retry_after: float | None,
        rand: Callable[[], float] = random.random,
    ) -> float:
        """Delay before retry number ``attempt`` (1-based)."""
        if retry_after is not None:
            return float(min(retry_after, self.max_retry_after))
        ceiling: float = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return ceiling * rand()


async def retry_async(
    op: Callable[[], Awaitable[T]],
    classify: Callable[[BaseException], bool | float],
    policy: RetryPolicy,
    *,
    sleep: Sleep = asyncio.sleep,
    rand: Callable[[], float] = random.random,
) -> T:
    """Run ``op``; on an exception that ``classify`` calls retryable, wait and try again.

    ``classify`` returns False for "don't retry", True for "retry with backoff", or a number of
    seconds the server asked us to wait. CancelledError always propagates.
    """
    attempt = 1
    while True:
        try:
            return await op()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            verdict = classify(exc)
            if verdict is False or attempt >= policy.attempts:
                raise
            retry_after = None if verdict is True else float(verdict)
            await sleep(policy.delay(attempt, retry_after, rand))
            attempt += 1


async def stop_task(task: asyncio.Task[object], *, every: float = 1.0) -> None:
    """Cancel ``task`` and return once it has ended (its result or error stays in it).

    On Python 3.11, ``asyncio.wait_for`` (which psycopg's pool awaits for a connection) returns
    its result and drops a cancellation that arrives just as its inner future completes
    (CPython gh-86296, fixed in 3.12): the task runs on as if nothing happened, and a plain
    ``cancel(); await task`` waits forever. So the task is cancelled again every ``every``
    seconds until it ends; one that honours the first cancellation ends without a wait."""
    task.cancel()
    while not task.done():
        await asyncio.wait({task}, timeout=every)
        if not task.done():
            task.cancel()
