"""Crash injection for the email kill -9 test, loaded into the real bot process from the test
side only.

A test starts ``python -m bot`` with this folder on PYTHONPATH and ``DE_TEST_CRASH_AT`` set to
``after_email``. Python imports this module at start-up; it wraps the local mailer so that,
once an email's file is written, the sender stops for good (before the outbox can record the
send as done) and says so on stderr. The test then sends SIGKILL from outside. The product code
has no hook for this.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any


def _install() -> None:
    if os.environ.get("DE_TEST_CRASH_AT") != "after_email":
        return
    from bot.mail.local import EmlMailer

    send = EmlMailer.send

    async def send_then_stop(self: EmlMailer, message: Any) -> None:
        await send(self, message)
        print(f"CRASHPOINT after_email {message.message_id}", file=sys.stderr, flush=True)
        await asyncio.Event().wait()

    EmlMailer.send = send_then_stop  # type: ignore[method-assign]


_install()
