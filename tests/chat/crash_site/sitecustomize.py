"""Crash injection for the chat's kill -9 test, loaded into the real bot process from the test
side only (PYTHONPATH). With ``DE_TEST_CHAT_CRASH=before_send`` the chat delivery stops for
good just before it would post an expert's answer (the virtual assistant's messages go
through) and says so on stderr; the test then sends SIGKILL. The product has no hook for this.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

_POINT = os.environ.get("DE_TEST_CHAT_CRASH", "")


def _install() -> None:
    if _POINT != "before_send":
        if _POINT:
            raise SystemExit(f"DE_TEST_CHAT_CRASH: unknown point {_POINT!r}")
        return
    from bot.chat.delivery import ChatDelivery

    process = ChatDelivery.process

    async def stop_before_answers(self: ChatDelivery, leased: Any) -> None:
        if "virtual assistant" not in json.dumps(leased.outgoing.card):
            print("CRASHPOINT before_send reached", file=sys.stderr, flush=True)
            await asyncio.Event().wait()
        await process(self, leased)

    ChatDelivery.process = stop_before_answers  # type: ignore[method-assign]


_install()
