"""Crash injection for kill -9 tests, loaded into the real bot process from the test side only.

A test starts ``python -m bot`` with this folder on PYTHONPATH and ``DE_TEST_CRASH_AT`` set to
``before_post`` or ``after_post``. Python imports this module at start-up; it wraps one method so
that the delivery worker stops for good at that point and says so on stderr. The test then sends
SIGKILL from outside. The product code has no hook for this.

``group_before_commit`` and ``group_after_commit`` stop the webhook's group commit instead: the
commits of the ``DE_TEST_GROUP`` webhooks whose id starts with ``msg_group`` are held until all
of them have arrived (so they share one transaction), and that transaction stops for good just
before its COMMIT, or just after it (durable, but no 202 was sent).
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
    elif _POINT in ("group_before_commit", "group_after_commit"):
        _hold_the_group()
    elif _POINT:
        raise SystemExit(f"DE_TEST_CRASH_AT: unknown point {_POINT!r}")


def _hold_the_group() -> None:
    import sqlite3
    import threading

    from bot.storage.sqlite import SqliteStore
    from bot.storage.sqlite_ledger import SqliteLedger

    size = int(os.environ.get("DE_TEST_GROUP", "4"))
    arrived: list[asyncio.Future[None]] = []
    commit = SqliteLedger.commit
    run_locked = SqliteStore.run_locked

    async def together(self: SqliteLedger, unit: Any) -> None:
        if str(unit.receipt or "").startswith("msg_group") and len(arrived) < size:
            waiting: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            arrived.append(waiting)
            if len(arrived) == size:
                for future in arrived:
                    future.set_result(None)
            await waiting
        await commit(self, unit)

    def is_the_group(conn: sqlite3.Connection) -> bool:
        row = conn.execute(
            "SELECT COUNT(*) FROM notification_receipts WHERE id LIKE 'msg_group%'"
        ).fetchone()
        return int(row[0]) == size

    def stop_for_good() -> None:
        print(f"CRASHPOINT {_POINT} reached", file=sys.stderr, flush=True)
        threading.Event().wait()

    def held(self: SqliteStore, fn: Any, *, durable: bool = True) -> Any:
        group = False

        def apply(conn: sqlite3.Connection) -> Any:
            nonlocal group
            result = fn(conn)
            group = is_the_group(conn)
            if group and _POINT == "group_before_commit":
                stop_for_good()
            return result

        result = run_locked(self, apply, durable=durable)
        if group:
            stop_for_good()
        return result

    SqliteLedger.commit = together  # type: ignore[method-assign]
    SqliteStore.run_locked = held  # type: ignore[method-assign]


_install()
