"""kill -9 while a group of webhooks is being committed: nothing answered 202 is lost, nothing
is delivered twice, and the experts' retries are answered as they should be.

The bot runs as ``python -m bot`` with ``tests/notifications/crash_site`` on PYTHONPATH: its
``sitecustomize`` holds the commits of four webhooks until all four have arrived (so they share
one transaction) and stops that transaction for good just before or just after its COMMIT. The
test kills the process there, restarts it without the failpoint, and retries every webhook that
got no answer, with the same webhook-id, as the experts do.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.e2e.harness import BotProcess
from tests.notifications.process import delivery, seeded, send, start, until
from tests.notifications.support import SECRET, example
from tests.standins.connector import ConnectorStandIn

CRASH_SITE = Path(__file__).parent / "crash_site"
GROUP = [f"70{i}" for i in range(4)]


@pytest.mark.parametrize(
    ("failpoint", "retry_status"),
    [("group_before_commit", 202), ("group_after_commit", 200)],
)
async def test_kill_9_during_a_group_commit(
    tmp_path: Path, connector: ConnectorStandIn, failpoint: str, retry_status: int
) -> None:
    data = await seeded(tmp_path, connector)
    bot = BotProcess(
        {
            "BOT_DATA_DIR": str(data),
            "EXPERTS_WEBHOOK_SECRET": SECRET,
            "PYTHONPATH": str(CRASH_SITE),
            "DE_TEST_CRASH_AT": failpoint,
            "DE_TEST_GROUP": str(len(GROUP)),
            "LOG_LEVEL": "INFO",
        },
        tmp_path / "logs",
    )
    await start(bot)
    try:
        # Answered 202 before the crash: it must survive it. (It is delivered first: a post the
        # connector accepted whose record the frozen writer can't commit would be the duplicate
        # window docs/notifications.md describes, not what this test is about.)
        assert await send(bot, example(incident_id="6999"), "msg_before") == 202

        async def delivered() -> bool:
            state = await delivery(bot, "6999")
            return [m["state"] for m in state["outbox"]] == ["done"]

        await until(delivered, "the first incident's delivery", bot)
        sending = [
            asyncio.create_task(send(bot, example(incident_id=i), f"msg_group_{i}")) for i in GROUP
        ]

        async def stopped() -> bool:
            return f"CRASHPOINT {failpoint} reached" in bot.log_text()

        await until(stopped, f"the {failpoint} failpoint", bot)
        assert not any(task.done() for task in sending), "a webhook was answered mid-commit"
        bot.kill9()
        answers = await asyncio.gather(*sending, return_exceptions=True)
        assert all(isinstance(a, Exception) for a in answers), answers  # no answer reached them

        bot.env.pop("DE_TEST_CRASH_AT")
        await start(bot)
        # The experts retry every webhook that got no answer, with the same webhook-id: a
        # group that never committed is accepted now (202); one that committed is a duplicate.
        for i in GROUP:
            assert await send(bot, example(incident_id=i), f"msg_group_{i}") == retry_status
        assert await send(bot, example(incident_id="6999"), "msg_before") == 200

        async def all_delivered() -> bool:
            for i in ["6999", *GROUP]:
                state = await delivery(bot, i)
                if [m["state"] for m in state["outbox"]] != ["done"]:
                    return False
            return True

        await until(all_delivered, "every incident's delivery", bot)
        for i in ["6999", *GROUP]:
            assert len(connector.posts_of(i)) == 1, (
                f"incident {i} was posted {len(connector.posts_of(i))} times"
            )
    finally:
        bot.stop()
