"""Sliding-window rate limits, per Teams thread and per tenant, with an injected clock.

Teams' documented limits for a bot (https://learn.microsoft.com/microsoftteams/platform/bots/
how-to/rate-limit): per bot per thread (a chat, or a channel in a team) 7 operations a second,
8 in 2 s, 60 in 30 s and 1,800 an hour; and per app per tenant 50 a second. Every connector call
(new post, reply, update) counts against both its thread and its tenant. Slots are only taken at
the current time, so the logs stay ordered; a caller that must wait sleeps and asks again.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

Window = tuple[float, int]


class RateLimiter(Protocol):
    """Teams' limits for one process (:class:`TeamsRateLimiter`) or for every instance together
    (the PostgreSQL limiter in ``bot.storage.postgres_coordination``)."""

    async def acquire(self, tenant_id: str, thread_id: str) -> None:
        """Wait, if needed, then take a slot for one connector call on this thread."""
        ...

    def back_off(self, thread_id: str, seconds: float) -> None:
        """The connector answered 429 for this thread: hold every send to it for a while."""
        ...


THREAD_WINDOWS: tuple[Window, ...] = ((1.0, 7), (2.0, 8), (30.0, 60), (3600.0, 1800))
TENANT_WINDOWS: tuple[Window, ...] = ((1.0, 50),)


def with_margin(
    windows: Sequence[Window], seconds: float = 0.25, share: float = 0.02
) -> tuple[Window, ...]:
    """Each window a little longer than documented: requests started on time can still reach
    Teams late (network and scheduling jitter), and Teams counts them when they arrive. With
    50 ms the chat benchmark's limit-enforcing stand-in still saw 2 of 36 calls of a burst over
    a window on a quiet machine: a call that leaves a busy event loop late bunches with the
    next second's calls."""
    return tuple((span * (1 + share) + seconds, limit) for span, limit in windows)


class SlidingWindows:
    """Operation start times per key; a new one starts when every window allows it."""

    def __init__(self, windows: Sequence[Window]) -> None:
        if not windows:
            raise ValueError("at least one window")
        self._windows = tuple(sorted(windows))
        self._span = max(w for w, _ in self._windows)
        self._log: dict[str, deque[float]] = {}
        self._blocked: dict[str, float] = {}

    def earliest(self, key: str, now: float) -> float:
        """The earliest time at or after ``now`` that a new operation on ``key`` may start."""
        at = max(now, self._blocked.get(key, 0.0))
        log = self._log.get(key)
        if log:
            for span, limit in self._windows:
                if len(log) >= limit:
                    at = max(at, log[-limit] + span)
        return at

    def record(self, key: str, at: float) -> None:
        """An operation on ``key`` starts at ``at`` (never earlier than the last one recorded)."""
        log = self._log.setdefault(key, deque())
        log.append(max(at, log[-1]) if log else at)
        while log and log[0] <= at - self._span:
            log.popleft()

    def block(self, key: str, until: float) -> None:
        """Nothing starts on ``key`` before ``until`` (the service said Retry-After)."""
        self._blocked[key] = max(self._blocked.get(key, 0.0), until)

    def prune(self, now: float) -> None:
        for key in [k for k, log in self._log.items() if not log or log[-1] <= now - self._span]:
            del self._log[key]
        for key in [k for k, until in self._blocked.items() if until <= now]:
            del self._blocked[key]


@dataclass
class TeamsRateLimiter:
    """Waits, if needed, until an operation on a thread of a tenant is within every limit."""

    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    thread_windows: Sequence[Window] = THREAD_WINDOWS
    tenant_windows: Sequence[Window] = TENANT_WINDOWS
    margin: bool = True

    def __post_init__(self) -> None:
        threads, tenants = self.thread_windows, self.tenant_windows
        if self.margin:
            threads, tenants = with_margin(threads), with_margin(tenants)
        self._threads = SlidingWindows(threads)
        self._tenants = SlidingWindows(tenants)
        self._calls = 0

    def try_acquire(self, tenant_id: str, thread_id: str) -> float:
        """Take a slot now and return 0, or return the seconds to wait before asking again."""
        now = self.clock()
        at = max(self._threads.earliest(thread_id, now), self._tenants.earliest(tenant_id, now))
        if at > now:
            return at - now
        self._threads.record(thread_id, now)
        self._tenants.record(tenant_id, now)
        self._calls += 1
        if self._calls % 1000 == 0:
            self._threads.prune(now)
            self._tenants.prune(now)
        return 0.0

    async def acquire(self, tenant_id: str, thread_id: str) -> None:
        while (wait := self.try_acquire(tenant_id, thread_id)) > 0:
            await self.sleep(wait)

    def back_off(self, thread_id: str, seconds: float) -> None:
        """The connector answered 429 for this thread: hold every send to it for a while."""
        self._threads.block(thread_id, self.clock() + max(0.0, seconds))


def thread_of(conversation_id: str) -> str:
    """The thread a conversation belongs to: a channel post's replies count on its channel."""
    return conversation_id.split(";", 1)[0]
