"""Sliding-window rate limits, per Teams thread and per tenant, with an injected clock.

Teams' documented limits for a bot (https://learn.microsoft.com/microsoftteams/platform/bots/
how-to/rate-limit): per bot per thread (a chat, or a channel in a team) 7 operations a second,
8 in 2 s, 60 in 30 s and 1,800 an hour; and per app per tenant 50 a second. Every connector call
(new post, reply, update) counts against both its thread and its tenant.

A call holds its slot from when it is granted until its answer (or its failure) arrives, and
only then does each window start counting it down: Teams counts a call when it arrives, at some
moment between the two, so a call that leaves a busy event loop late or crosses a slow network
is still inside every window it may land in. No margin for jitter is needed (see
:func:`with_margin`). Slots are only taken at the current time, so the logs stay ordered; a
caller that must wait sleeps and asks again, or waits for a call in flight to end.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

Window = tuple[float, int]


class RateLimiter(Protocol):
    """Teams' limits for one process (:class:`TeamsRateLimiter`) or for every instance together
    (the PostgreSQL limiter in ``bot.storage.postgres_coordination``)."""

    def slot(self, tenant_id: str, thread_id: str) -> AbstractAsyncContextManager[None]:
        """Wait, if needed, then hold a slot for one connector call on this thread while the
        block runs: make the call inside it, so the slot ends when the answer (or the failure)
        has arrived."""
        ...

    async def back_off(self, thread_id: str, seconds: float) -> None:
        """The connector answered 429 for this thread: hold every send to it for a while."""
        ...


THREAD_WINDOWS: tuple[Window, ...] = ((1.0, 7), (2.0, 8), (30.0, 60), (3600.0, 1800))
TENANT_WINDOWS: tuple[Window, ...] = ((1.0, 50),)


def with_margin(
    windows: Sequence[Window], seconds: float = 0.05, share: float = 0.0
) -> tuple[Window, ...]:
    """Each window a little longer than documented. Transit needs none: a slot is held until
    the call's answer, which comes after Teams counted the call. What is left is the edge of a
    window (whether Teams counts a call exactly ``span`` after another inside it, and the
    resolution of its clock) and a call whose failure we see before Teams does (a timeout or a
    reset connection while the request is still on its way): 50 ms."""
    return tuple((span * (1 + share) + seconds, limit) for span, limit in windows)


class SlidingWindows:
    """Per key: the calls in flight, and when each ended call had its answer. A new call
    starts when every window allows it: fewer than ``limit`` calls are in flight or ended less
    than ``span`` ago."""

    def __init__(self, windows: Sequence[Window]) -> None:
        if not windows:
            raise ValueError("at least one window")
        self._windows = tuple(sorted(windows))
        self._span = max(w for w, _ in self._windows)
        self._open: dict[str, int] = {}
        self._log: dict[str, deque[float]] = {}
        self._blocked: dict[str, float] = {}

    def earliest(self, key: str, now: float) -> float:
        """The earliest time at or after ``now`` that a new call on ``key`` may start, if the
        calls in flight have their answers by then; ``math.inf`` while they alone fill a
        window (only an answer frees a slot then)."""
        at = max(now, self._blocked.get(key, 0.0))
        in_flight = self._open.get(key, 0)
        log = self._log.get(key)
        for span, limit in self._windows:
            room = limit - in_flight  # ended calls that may still count in this window
            if room <= 0:
                return math.inf
            if log and len(log) >= room:
                at = max(at, log[-room] + span)
        return at

    def start(self, key: str) -> None:
        """A call on ``key`` starts now: it counts until :meth:`end`."""
        self._open[key] = self._open.get(key, 0) + 1

    def end(self, key: str, at: float) -> None:
        """A call on ``key`` started with :meth:`start` had its answer at ``at``."""
        left = self._open.get(key, 0) - 1
        if left > 0:
            self._open[key] = left
        else:
            self._open.pop(key, None)
        log = self._log.setdefault(key, deque())
        log.append(max(at, log[-1]) if log else at)
        while log and log[0] <= at - self._span:
            log.popleft()

    def record(self, key: str, at: float) -> None:
        """A call on ``key`` that starts and has its answer at ``at`` (no time in flight)."""
        self.start(key)
        self.end(key, at)

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
    """Waits, if needed, until a call on a thread of a tenant is within every limit, and holds
    its slot until the call has its answer."""

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
        self._answered = asyncio.Event()
        self._calls = 0

    def try_acquire(self, tenant_id: str, thread_id: str) -> float:
        """Take a slot now and return 0 (end it with :meth:`release` once the call has its
        answer), or return the seconds to wait before asking again (``math.inf``: until a call
        in flight has its answer)."""
        now = self.clock()
        at = max(self._threads.earliest(thread_id, now), self._tenants.earliest(tenant_id, now))
        if at > now:
            return at - now
        self._threads.start(thread_id)
        self._tenants.start(tenant_id)
        self._calls += 1
        if self._calls % 1000 == 0:
            self._threads.prune(now)
            self._tenants.prune(now)
        return 0.0

    def release(self, tenant_id: str, thread_id: str) -> None:
        """The call of a slot taken with :meth:`try_acquire` has its answer (or failed)."""
        now = self.clock()
        self._threads.end(thread_id, now)
        self._tenants.end(tenant_id, now)
        answered, self._answered = self._answered, asyncio.Event()
        answered.set()

    async def acquire(self, tenant_id: str, thread_id: str) -> None:
        """Wait until a slot is taken; the caller must :meth:`release` it."""
        while (wait := self.try_acquire(tenant_id, thread_id)) > 0:
            if math.isinf(wait):
                await self._answered.wait()
            else:
                await self.sleep(wait)

    @contextlib.asynccontextmanager
    async def slot(self, tenant_id: str, thread_id: str) -> AsyncIterator[None]:
        await self.acquire(tenant_id, thread_id)
        try:
            yield
        finally:
            self.release(tenant_id, thread_id)

    async def back_off(self, thread_id: str, seconds: float) -> None:
        """The connector answered 429 for this thread: hold every send to it for a while."""
        self._threads.block(thread_id, self.clock() + max(0.0, seconds))


def thread_of(conversation_id: str) -> str:
    """The thread a conversation belongs to: a channel post's replies count on its channel."""
    return conversation_id.split(";", 1)[0]
