"""Delivers the chat outbox to Teams: answers, the assistant's messages and notices.

Each send waits for Teams' per-thread and per-tenant limits on the limiter the incident posts
use (they share Teams' limits on the same thread). 412/429/5xx and connection errors are
retried from the outbox with backoff, honouring Retry-After; other refusals fail the send and
its message shows why. The activity id is committed with the send's completion; a restart gives
back what the dead process had leased (see docs/chat.md for the one window Teams leaves).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable

from bot.chat.model import LeasedSend
from bot.chat.ports import ChatStore, Written
from bot.logsafe import safe
from bot.messaging import ChannelMessenger, DeliveryError
from bot.notifications.ratelimit import RateLimiter
from bot.retry import RetryPolicy

log = logging.getLogger(__name__)


def failure_reason(exc: DeliveryError) -> str:
    """What the console shows for a send Teams refused."""
    if exc.status in (403,):
        return "Teams refused the message (HTTP 403): the bot may have been removed from the team"
    if exc.status == 404:
        return "Teams no longer has this conversation (HTTP 404)"
    if exc.status == 413:
        return "Teams refused the message as too large (HTTP 413)"
    if exc.status is None:
        return "Teams couldn't be reached"
    return f"Teams refused the message (HTTP {exc.status})"


class ChatDelivery:
    def __init__(
        self,
        store: ChatStore,
        messenger: ChannelMessenger,
        limiter: RateLimiter,
        *,
        on_written: Callable[[Written], None],
        retry: RetryPolicy | None = None,
        concurrency: int = 16,
        lease_seconds: float = 600.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._store = store
        self._messenger = messenger
        self._limiter = limiter
        self._on_written = on_written
        self._retry = retry or RetryPolicy(
            attempts=10, base_delay=1.0, max_delay=300.0, max_retry_after=3600.0
        )
        self._concurrency = concurrency
        self._lease_seconds = lease_seconds
        self._clock = clock
        self._sleep = sleep
        self._rand = rand
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        """Something was enqueued: look again now (and not idle until then)."""
        self._idle.clear()
        self._wake.set()

    async def wait_idle(self) -> None:
        """Return once the run loop has found nothing in flight and nothing due now: the
        delivery's public idle signal (sends due later, after a retry delay, don't count).
        :meth:`wake`, which every enqueue calls, clears it until the loop has looked again."""
        await self._idle.wait()

    async def recover(self) -> int:
        count = await self._store.reclaim()
        if count:
            log.warning("recovered %d chat message(s) that were in flight at the last stop", count)
        return count

    async def run(self) -> None:
        await self.recover()
        try:
            while True:
                self._wake.clear()
                free = self._concurrency - len(self._inflight)
                leased = (
                    await self._store.lease(self._clock(), free, self._lease_seconds)
                    if free > 0
                    else []
                )
                for item in leased:
                    task = asyncio.create_task(self.process(item))
                    self._inflight.add(task)
                    task.add_done_callback(self._inflight.discard)
                due = await self._store.next_send_due()
                due_now = due is not None and due <= self._clock()
                timeout = 5.0 if due is None else min(5.0, max(0.01, due - self._clock()))
                if not leased and not self._inflight and not due_now and not self._wake.is_set():
                    self._idle.set()
                waiter = asyncio.ensure_future(self._wake.wait())
                try:
                    await asyncio.wait(
                        {waiter, *self._inflight},
                        timeout=timeout,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    waiter.cancel()
        finally:
            for task in list(self._inflight):
                task.cancel()
            await asyncio.gather(*self._inflight, return_exceptions=True)

    async def process(self, leased: LeasedSend) -> None:
        """Send one leased message; it ends posted, due again later, or failed."""
        out = leased.outgoing
        try:
            async with self._limiter.slot(out.tenant_id, out.thread_id):
                activity_id = await self._messenger.send(
                    out.reference, card=out.card, text=out.text
                )
        except asyncio.CancelledError:
            raise
        except DeliveryError as exc:
            await self._failed(leased, exc)
            return
        except Exception as exc:
            log.exception("chat send %s failed", safe(out.id))
            await self._failed(
                leased, DeliveryError(type(exc).__name__, status=None, retry_after=None)
            )
            return
        self._on_written(await self._store.posted(leased, activity_id or "sent"))

    async def _failed(self, leased: LeasedSend, exc: DeliveryError) -> None:
        attempts = leased.attempts + 1
        if not exc.retryable or attempts >= self._retry.attempts:
            reason = failure_reason(exc)
            log.warning("chat send %s failed: %s", safe(leased.outgoing.id), safe(reason, 200))
            self._on_written(await self._store.failed(leased, error=reason))
            return
        delay = self._retry.delay(attempts, exc.retry_after, self._rand)
        if exc.status == 429:
            await self._limiter.back_off(leased.outgoing.thread_id, delay)
        await self._store.retry(leased, at=self._clock() + delay, error=failure_reason(exc))
