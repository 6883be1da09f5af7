"""Crash injection for the several-instances tests, loaded into a real bot process from the test
side only (``PYTHONPATH``); the product has no hook for it.

``DE_TEST_STALL_AFTER_CALLS=N``: after N calls to the Bot Connector, every further call stalls
for good, before it is sent, and the process says ``STALLED`` on stderr; once none of the N
calls is still on its way (each has its answer), it says ``QUIET``. The instance keeps the
leases of the messages it was delivering; the test then kills it with SIGKILL, and another
instance must deliver them after their lease expires, exactly once.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

_LIMIT = int(os.environ.get("DE_TEST_STALL_AFTER_CALLS", "-1"))


def _install() -> None:
    if _LIMIT < 0:
        return
    from bot.transport.messenger import BotMessenger

    calls = 0
    on_the_way = 0
    said = quiet = False

    def maybe_quiet() -> None:
        nonlocal quiet
        if said and not quiet and on_the_way == 0:
            quiet = True
            print(f"QUIET after {calls} connector calls", file=sys.stderr, flush=True)

    def wrap(name: str) -> None:
        real = getattr(BotMessenger, name)

        async def stalling(self: Any, *args: Any, **kwargs: Any) -> Any:
            nonlocal calls, said, on_the_way
            if calls >= _LIMIT:
                if not said:
                    said = True
                    print(f"STALLED after {calls} connector calls", file=sys.stderr, flush=True)
                maybe_quiet()
                await asyncio.Event().wait()
            calls += 1
            on_the_way += 1
            try:
                return await real(self, *args, **kwargs)
            finally:
                on_the_way -= 1
                maybe_quiet()

        setattr(BotMessenger, name, stalling)

    for name in ("post_to_channel", "send", "update"):
        wrap(name)


_install()
