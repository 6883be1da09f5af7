"""The delivery worker: reads the outbox and delivers each incident's revisions in order.

* The first delivered revision of an incident is a new post in the Managed response channel; a
  later one updates that card in place, then replies in its thread with what changed.
* Teams off, or no channel yet: the revision is emailed to the incident notification contacts.
* Every connector call waits for Teams' per-thread and per-tenant limits. 412/429/5xx and
  connection errors are retried with backoff and jitter, honouring Retry-After, from the outbox
  (so retries survive restarts). After ``max_attempts`` the message is a dead letter and is
  emailed.
* Crash safety: the new post's activity id is committed before the message is marked done, and
  each later step checks what is already recorded, so a restart resumes without posting twice.
* Retention: the loop also runs the ledger's :class:`~bot.notifications.retention.Pruner`, at
  most once an hour, beside delivery (never in its way), and every document it writes is
  bounded (:func:`~bot.notifications.retention.bound_incident`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bot.mail.ports import Mailer
from bot.messaging import ChannelMessenger
from bot.notifications.delivery import (
    DeliveryStats,
    MessageDelivery,
    WorkerOptions,
)
from bot.notifications.ports import ChannelDirectory, Leased, Ledger, SettingsSource
from bot.notifications.ratelimit import RateLimiter
from bot.notifications.retention import Pruner, PruneReport

log = logging.getLogger(__name__)

STORE_RETRY_MAX_SECONDS = 30.0


class DeliveryWorker:
    def __init__(
        self,
        ledger: Ledger,
        messenger: ChannelMessenger,
        channels: ChannelDirectory,
        settings: SettingsSource,
        mailer: Mailer,
        limiter: RateLimiter,
        *,
        options: WorkerOptions | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        claim: Callable[[str, str], Awaitable[bool]] | None = None,
    ) -> None:
        self._ledger = ledger
        self._options = options or WorkerOptions()
        self._clock = clock
        self._sleep = sleep
        self._delivery = MessageDelivery(
            ledger,
            messenger,
            channels,
            settings,
            mailer,
            limiter,
            self._options,
            clock=clock,
            rand=rand,
        )
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()
        self._pruner = Pruner(ledger, self._options.retention, clock)
        self._pruning: asyncio.Task[PruneReport] | None = None
        self._claim = claim
        self._leases: dict[asyncio.Task[None], Leased] = {}
        self._draining = False
        self.stats: DeliveryStats = self._delivery.stats

    @property
    def ledger(self) -> Ledger:
        return self._ledger

    # ---- loop -------------------------------------------------------------------------------

    def wake(self) -> None:
        """New work was enqueued: look now instead of at the next poll."""
        self._idle.clear()
        self._wake.set()

    async def wait_idle(self) -> None:
        """Return once the run loop has found nothing in flight, nothing due now and no pruning
        running: the worker's public idle signal. :meth:`wake` (which every enqueue calls)
        clears it until the loop has looked again."""
        await self._idle.wait()

    async def recover(self) -> int:
        """Give back the leases a killed process held; their progress is in the documents."""
        count = await self._ledger.reclaim()
        if count:
            log.warning("recovered %d notification(s) that were in flight at the last stop", count)
        return count

    async def _renew_leases(
        self, extend: Callable[[list[Leased], float], Awaitable[set[int]]]
    ) -> None:
        """While deliveries wait (on Teams' limits, on retries of a call), keep their leases:
        a short lease lets another instance take over soon after this one dies, never while it
        is alive."""
        seconds = self._options.lease_seconds
        while True:
            await self._sleep(seconds / 3)
            held = list(self._leases.values())
            try:
                kept = await extend(held, seconds)
            except Exception:
                log.exception("renewing delivery leases failed")
                continue
            running = {item.seq for item in self._leases.values()}  # some finished meanwhile
            lost = [item for item in held if item.seq not in kept and item.seq in running]
            if lost:
                log.warning("lost the lease of %d delivery(ies) to another instance", len(lost))

    async def run(self) -> None:
        """Deliver until cancelled."""
        await self.recover()
        extend = getattr(self._ledger, "extend", None)
        renewing = (
            asyncio.create_task(self._renew_leases(extend), name="lease-renewal")
            if extend is not None
            else None
        )
        failures = 0
        try:
            while True:
                self._wake.clear()
                self._prune_if_due()
                try:
                    leased = await self._fill()
                    timeout, due_now = await self._idle_timeout(leased)
                    failures = 0
                except Exception as error:  # the store failed: keep the worker, back off, retry
                    failures += 1
                    timeout = min(STORE_RETRY_MAX_SECONDS, 2.0 ** min(failures - 1, 5))
                    log.warning(
                        "delivery: the store failed (%s); retrying in %.0f s",
                        type(error).__name__,
                        timeout,
                    )
                    leased, due_now = 0, False
                busy = [self._pruning] if self._pruning and not self._pruning.done() else []
                # Not idle if something was enqueued while this pass looked (wake() came after
                # the leasing): the next pass must look first.
                quiet = not leased and not self._inflight and not due_now and not busy
                if quiet and not failures and not self._wake.is_set():
                    self._idle.set()
                waiter = asyncio.ensure_future(self._wake.wait())
                try:
                    await asyncio.wait(
                        {waiter, *self._inflight, *busy},
                        timeout=timeout,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    waiter.cancel()
        finally:
            pruning: list[asyncio.Task[Any]] = [self._pruning] if self._pruning else []
            pruning += [renewing] if renewing is not None else []
            for task in [*self._inflight, *pruning]:
                task.cancel()
            await asyncio.gather(*self._inflight, *pruning, return_exceptions=True)

    def _prune_if_due(self) -> None:
        """Start pruning if the last run is an hour old and none is running. It runs beside
        delivery, in small transactions, so the loop keeps leasing meanwhile."""
        if (self._pruning is None or self._pruning.done()) and self._pruner.due():
            self._pruning = asyncio.create_task(self._prune())

    async def _prune(self) -> PruneReport:
        """Prune, unless another instance claimed this interval (``claim``, several instances)."""
        if self._claim is not None:
            interval = self._pruner.policy.interval_seconds
            period = str(int(self._clock() // interval))
            if not await self._claim("notifications-retention", period):
                return self._pruner.skip()
        return await self._pruner.run()

    async def _fill(self) -> int:
        free = self._options.concurrency - len(self._inflight)
        if free <= 0 or self._draining:
            return 0
        leased = await self._ledger.lease(free, self._options.lease_seconds)
        for item in leased:
            task = asyncio.create_task(self.process(item))
            self._inflight.add(task)
            self._leases[task] = item
            task.add_done_callback(self._forget)
        return len(leased)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        item = self._leases.pop(task, None)
        if item is not None:
            self._delivery.touched.discard(item.seq)

    async def drain(self, grace: float) -> tuple[int, int]:
        """Stop leasing; let deliveries in flight finish for up to ``grace`` seconds; then stop
        the rest and give back the leases of those that hadn't sent anything yet (another
        instance delivers them now; on SQLite the restart takes them back). A message whose send
        had started keeps its lease until it expires: its recorded progress decides, so nothing
        is posted twice. Returns (finished, given back)."""
        self._draining = True
        self.wake()
        running = set(self._inflight)
        if not running:
            return 0, 0
        log.info(
            "stopping: waiting up to %.0f s for %d delivery(ies) in flight", grace, len(running)
        )
        done, pending = await asyncio.wait(running, timeout=grace)
        leases = {task: self._leases.get(task) for task in pending}
        untouched = [
            item
            for item in leases.values()
            if item is not None and item.seq not in self._delivery.touched
        ]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        # Only a shared ledger gives leases back; one instance's own reclaims them at start-up.
        release: Callable[[Leased], Awaitable[None]] | None = getattr(self._ledger, "release", None)
        if release is not None:
            for item in untouched:
                await release(item)
        else:
            untouched = []
        if pending:
            log.warning(
                "stopping: %d delivery(ies) finished, %d given back, %d left to their lease",
                len(done),
                len(untouched),
                len(pending) - len(untouched),
            )
        return len(done), len(untouched)

    async def _idle_timeout(self, leased: int) -> tuple[float, bool]:
        """How long to wait for, and whether a message is due now."""
        poll = self._options.poll_seconds
        if len(self._inflight) >= self._options.concurrency:
            return poll, False  # full: the loop wakes when a delivery ends, not by polling
        due = await self._ledger.next_due()
        if due is None:
            return poll, False
        wait = min(poll, max(0.0, due - self._clock()))
        return (wait if leased or wait > 0 else 0.01), wait <= 0

    async def process(self, leased: Leased) -> None:
        """Deliver one leased message (:meth:`MessageDelivery.process`). The run loop calls this
        for each message it leases."""
        await self._delivery.process(leased)
