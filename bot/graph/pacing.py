"""Pacing: keep an API's calls within its documented rate limits instead of running into 429s.

The Defender for Endpoint API allows 100 calls a minute and 1,500 an hour (per app and
tenant; "Rate limitations for this API are 100 calls per minute and 1500 calls per hour" on
each of its pages). :class:`CallPacer` gives every call a slot in time: now, or as soon as
each sliding window has room. A caller waits for its slot, so bursts spread out and the API
never has to refuse one.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import Callable

from bot.retry import Sleep

DEFENDER_LIMITS: tuple[tuple[float, int], ...] = ((60.0, 100), (3600.0, 1500))
"""(window in seconds, calls allowed in it) of the Defender for Endpoint API."""


class CallPacer:
    """Spreads calls so that no window of ``limits`` holds more than its count."""

    def __init__(
        self,
        limits: tuple[tuple[float, int], ...],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not limits or any(span <= 0 or count < 1 for span, count in limits):
            raise ValueError("each limit needs a positive window and count")
        self._limits = limits
        self._longest = max(span for span, _ in limits)
        self._clock = clock
        self._sleep = sleep
        self._slots: list[float] = []
        self.waited = 0.0
        """Seconds callers were held back in all (for logs and tests)."""

    def _slot(self, now: float) -> float:
        """The earliest time from ``now``, and not before the last call's slot (first come,
        first served), at which every window has room."""
        slot = max(now, self._slots[-1]) if self._slots else now
        moved = True
        while moved:
            moved = False
            for span, count in self._limits:
                inside = len(self._slots) - bisect.bisect_right(self._slots, slot - span)
                if inside >= count:
                    # Wait until the call that fills this window leaves it.
                    free = self._slots[len(self._slots) - count] + span
                    if free > slot:
                        slot, moved = free, True
        return slot

    async def acquire(self) -> None:
        """Wait for this call's slot. Slots are handed out in order of arrival."""
        now = self._clock()
        cut = bisect.bisect_right(self._slots, now - self._longest)
        del self._slots[:cut]
        slot = self._slot(now)
        self._slots.append(slot)
        if slot > now:
            self.waited += slot - now
            await self._sleep(slot - now)
