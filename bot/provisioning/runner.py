"""Runs the saga: one background task per tenant, each step in turn from the stored one, with
transient failures tried again (honouring Retry-After) and the rest recorded as the failure
the admin sees on the progress card."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import datetime

from bot.errors import ConcurrencyError
from bot.logsafe import safe
from bot.provisioning.failures import KnownFailure, StepError, classify
from bot.provisioning.model import Failure, Status, TeamsRecord
from bot.provisioning.ports import Exclusive, LocalExclusive
from bot.provisioning.records import Run, TeamsRecords
from bot.provisioning.steps import Repair, SagaSteps, retry_after
from bot.retry import RetryPolicy, Sleep, stop_task

log = logging.getLogger(__name__)

MAX_REPAIRS = 2

Show = Callable[[TeamsRecord], Awaitable[None]]


class SagaRunner:
    """The saga's background tasks, and the loop that runs its steps."""

    def __init__(
        self,
        records: TeamsRecords,
        steps: SagaSteps,
        show: Show,
        *,
        sleep: Sleep,
        clock: Callable[[], datetime],
        rand: Callable[[], float] = random.random,
        transient_policy: RetryPolicy,
        exclusive: Exclusive | None = None,
    ) -> None:
        self._records = records
        # One saga per tenant at a time: across instances when the root passes a shared lock.
        self._exclusive = exclusive or LocalExclusive()
        self._steps = steps
        self._show = show
        self._sleep = sleep
        self._clock = clock
        self._rand = rand
        self._transient = transient_policy
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()

    # ---- background tasks ----------------------------------------------------------------

    async def start(self) -> None:
        """Resume every saga that was running when the process stopped."""
        for tenant in await self._records.enabled_and_active():
            self.kick(tenant)

    async def close(self) -> None:
        """Shut down: stop every saga (each resumes from its stored step on the next start)."""
        self._again.clear()
        for task in list(self._tasks.values()):
            await stop_task(task)
        await self.wait_idle()

    async def wait_idle(self) -> None:
        """Wait until no saga runs in this process: each is ready, waiting for Teams' event,
        stopped with a failure, or cancelled by :meth:`close`."""
        while True:
            running = {t for t in self._tasks.values() if not t.done()}
            if not running:
                return
            done, _ = await asyncio.wait(running)
            for task in done:
                if not task.cancelled():
                    task.exception()  # retrieved: _background has logged what matters

    def kick(self, tenant: str) -> None:
        """Run the tenant's saga in the background (again, if it is running now)."""
        task = self._tasks.get(tenant)
        if task is not None and not task.done():
            self._again.add(tenant)
            return
        self._tasks[tenant] = asyncio.get_running_loop().create_task(
            self._background(tenant), name=f"provisioning {tenant}"
        )

    async def cancel(self, tenant: str) -> None:
        task = self._tasks.pop(tenant, None)
        self._again.discard(tenant)
        if task is not None and not task.done() and task is not asyncio.current_task():
            await stop_task(task)
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _background(self, tenant: str) -> None:
        try:
            while True:
                self._again.discard(tenant)
                await self.run(tenant)
                if tenant not in self._again:
                    return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("Teams provisioning stopped unexpectedly")
        finally:
            if self._tasks.get(tenant) is asyncio.current_task():
                del self._tasks[tenant]

    # ---- the saga ----------------------------------------------------------------------

    async def run(self, tenant_id: str) -> TeamsRecord | None:
        """Run the saga from its stored step until it is ready, waits, or fails; while another
        run of the tenant's saga (in any instance) holds it, wait for that one first."""
        tenant = tenant_id.lower()
        async with self._exclusive(f"provisioning-saga:{tenant}"):
            return await self._run(tenant)

    async def _run(self, tenant: str) -> TeamsRecord | None:
        transient = 0
        repairs = 0
        while True:
            run = await self._records.load(tenant)
            if run is None:
                return None
            if not run.rec.active:
                return run.rec
            step = run.rec.step
            try:
                more = await self._steps.by_step[step](run)
            except ConcurrencyError:
                continue
            except Repair as repair:
                repairs += 1
                if repairs > MAX_REPAIRS:
                    await self._fail(run, classify(repair.cause, int(step)).failure)
                    return run.rec
                continue
            except Exception as exc:
                verdict = classify(exc, int(step))
                if not isinstance(exc, StepError | KnownFailure):
                    log.exception("Teams provisioning step %d failed", int(step))
                if verdict.retryable and transient + 1 < self._transient.attempts:
                    transient += 1
                    delay = self._transient.delay(transient, retry_after(exc), self._rand)
                    log.warning(
                        "Teams provisioning step %d: %s; trying again in %.0fs",
                        int(step),
                        safe(exc, 300),
                        delay,
                    )
                    await self._sleep(delay)
                    continue
                await self._fail(run, verdict.failure)
                return run.rec
            transient = 0
            await self._show(run.rec)
            if not more:
                return run.rec

    async def _fail(self, run: Run, failure: Failure) -> None:
        stamped = Failure(
            kind=failure.kind,
            title=failure.title,
            message=failure.message,
            permissions=failure.permissions,
            step=failure.step,
            request_id=failure.request_id,
            at=self._clock().isoformat(),
        )
        log.warning(
            "Teams provisioning stopped at step %d: %s%s",
            failure.step,
            failure.kind,
            f" (request-id {failure.request_id})" if failure.request_id else "",
        )
        try:
            await run.save(status=Status.FAILED, failure=stamped)
        except ConcurrencyError:
            record = await self._records.mutate(
                run.rec.tenant_id,
                lambda r: None if r is None else r.evolve(status=Status.FAILED, failure=stamped),
            )
            if record is not None:
                run.rec = record
        await self._show(run.rec)
