"""Crash injection for the several-instances tests, loaded into a real bot process from the test
side only (``PYTHONPATH``); the product has no hook for it.

``DE_TEST_STALL_AFTER_CALLS=N``: after N calls to the Bot Connector, every further call stalls
for good, before it is sent, and the process says ``STALLED`` on stderr. The instance keeps the
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
    said = False

    def wrap(name: str) -> None:
        real = getattr(BotMessenger, name)

        async def stalling(self: Any, *args: Any, **kwargs: Any) -> Any:
            nonlocal calls, said
            if calls >= _LIMIT:
                if not said:
                    said = True
                    print(f"STALLED after {calls} connector calls", file=sys.stderr, flush=True)
                await asyncio.Event().wait()
            calls += 1
            return await real(self, *args, **kwargs)

        setattr(BotMessenger, name, stalling)

    for name in ("post_to_channel", "send", "update"):
        wrap(name)


_install()
