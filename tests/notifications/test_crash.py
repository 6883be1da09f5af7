"""kill -9 on the real process: exactly one post after a restart.

The bot runs as ``python -m bot`` with ``tests/notifications/crash_site`` on PYTHONPATH, whose
``sitecustomize`` makes the delivery worker stop for good at one step and say so in its log; the
test then sends SIGKILL from outside, restarts the bot without it, and counts the posts the Bot
Connector stand-in received.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.harness import BotProcess
from tests.notifications.process import delivery, seeded, send, start, until
from tests.notifications.support import SECRET, example
from tests.standins.connector import ConnectorStandIn

CRASH_SITE = Path(__file__).parent / "crash_site"


@pytest.mark.parametrize("failpoint", ["before_post", "after_post"])
async def test_kill_9_then_restart_posts_exactly_once(
    tmp_path: Path, connector: ConnectorStandIn, failpoint: str
) -> None:
    data = await seeded(tmp_path, connector)
    bot = BotProcess(
        {
            "BOT_DATA_DIR": str(data),
            "EXPERTS_WEBHOOK_SECRET": SECRET,
            "PYTHONPATH": str(CRASH_SITE),
            "DE_TEST_CRASH_AT": failpoint,
            "LOG_LEVEL": "INFO",
        },
        tmp_path / "logs",
    )
    await start(bot)
    try:
        assert await send(bot, example(), "msg_crash") == 202

        async def paused() -> bool:
            return f"CRASHPOINT {failpoint} reached" in bot.log_text()

        await until(paused, f"the {failpoint} failpoint", bot)
        posts_before_kill = len(connector.posts_of("2972395"))
        assert posts_before_kill == (0 if failpoint == "before_post" else 1)
        bot.kill9()

        bot.env.pop("DE_TEST_CRASH_AT")
        await start(bot)

        async def done() -> bool:
            state = await delivery(bot, "2972395")
            return bool(state["outbox"]) and all(m["state"] == "done" for m in state["outbox"])

        await until(done, "the delivery after the restart", bot)
        assert len(connector.posts_of("2972395")) == 1
        state = await delivery(bot, "2972395")
        assert state["post"]["activityId"] == connector.posts_of("2972395")[0].activity_id
        assert "recovered 1 notification" in bot.log_text()
        # A repeat of the accepted webhook after the crash is still a duplicate.
        assert await send(bot, example(), "msg_crash") == 200
    finally:
        bot.stop()
