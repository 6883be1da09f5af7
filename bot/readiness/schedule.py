"""A background loop that runs due work on an injected clock and sleep (the scheduled
re-assessment, the monthly report email)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from bot.retry import stop_task

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
Job = Callable[[], Awaitable[float]]
"""Runs whatever is due; returns the seconds until it should be called again."""
MAX_WAIT = 3600.0
RETRY_WAIT = 300.0


class Scheduler:
    def __init__(self, jobs: Sequence[Job], *, sleep: Sleep = asyncio.sleep) -> None:
        self._jobs = list(jobs)
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None
        self.rounds = 0

    async def run_once(self) -> float:
        """Run every job once; the seconds until the earliest is due again."""
        wait = MAX_WAIT
        for job in self._jobs:
            try:
                wait = min(wait, await job())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("a scheduled job failed; it is tried again later")
                wait = min(wait, RETRY_WAIT)
        self.rounds += 1
        return max(0.0, wait)

    async def _loop(self) -> None:
        while True:
            await self._sleep(await self.run_once())

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop())

    async def close(self) -> None:
        if self._task is not None:
            await stop_task(self._task)
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
