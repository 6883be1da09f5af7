"""Crash injection for kill -9 tests, loaded into the real bot process from the test side only.

A test starts ``python -m bot`` with this folder on PYTHONPATH and ``DE_TEST_CRASH_AT`` set to
``before_post`` or ``after_post``. Python imports this module at start-up; it wraps one method so
that the delivery worker stops for good at that point and says so on stderr. The test then sends
SIGKILL from outside. The product code has no hook for this.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

_POINT = os.environ.get("DE_TEST_CRASH_AT", "")


async def _stop_here() -> None:
    print(f"CRASHPOINT {_POINT} reached", file=sys.stderr, flush=True)
    await asyncio.Event().wait()


def _install() -> None:
    if _POINT == "before_post":
        from bot.transport.messenger import BotMessenger

        async def no_post(self: Any, *args: Any, **kwargs: Any) -> Any:
            await _stop_here()

        BotMessenger.post_to_channel = no_post  # type: ignore[method-assign]
    elif _POINT == "after_post":
        from bot.storage.sqlite_ledger import SqliteLedger

        commit = SqliteLedger.commit

        async def stop_before_done(self: SqliteLedger, unit: Any) -> None:
            if unit.complete is not None:  # the post is recorded; marking it done comes next
                await _stop_here()
            await commit(self, unit)

        SqliteLedger.commit = stop_before_done  # type: ignore[method-assign]
    elif _POINT:
        raise SystemExit(f"DE_TEST_CRASH_AT: unknown point {_POINT!r}")


_install()
