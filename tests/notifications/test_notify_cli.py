"""``python -m bot notify --example``: one command sends a signed test notification."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from bot.devtools.notify import example_notification
from bot.notifications.model import validate_notification
from tests.e2e.harness import REPO_ROOT, BotProcess
from tests.notifications.process import seeded, until
from tests.notifications.support import SECRET
from tests.standins.connector import ConnectorStandIn


@pytest.mark.parametrize("revision", [1, 2, 3])
@pytest.mark.parametrize("guidance_only", [False, True])
def test_the_examples_are_valid(revision: int, guidance_only: bool) -> None:
    n = validate_notification(example_notification(revision, guidance_only=guidance_only))
    assert n.revision == revision
    assert (n.completed == ()) is guidance_only
    assert n.status == ("resolved" if revision == 3 else "inProgress")


def notify(bot: BotProcess, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EXPERTS_WEBHOOK_SECRET": SECRET, "PORT": str(bot.port)}
    return subprocess.run(
        [sys.executable, "-m", "bot", "notify", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_notify_example_reaches_the_channel(
    tmp_path: Path,
    connector: ConnectorStandIn,
) -> None:
    data = await seeded(tmp_path, connector)
    bot = BotProcess(
        {"BOT_DATA_DIR": str(data), "EXPERTS_WEBHOOK_SECRET": SECRET}, tmp_path / "logs"
    )
    await asyncio.to_thread(bot.start)
    try:
        sent = await asyncio.to_thread(notify, bot, "--example")
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout.startswith("HTTP 202") and '"status": "accepted"' in sent.stdout

        async def posted() -> bool:
            return len(connector.posts_of("2972395")) == 1

        await until(posted, "the example's post", bot)
        status = await asyncio.to_thread(notify, bot, "--status", "2972395")
        assert status.returncode == 0 and '"state": "posted"' in status.stdout
        wrong = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "bot", "notify", "--example"],
            cwd=REPO_ROOT,
            env={
                **os.environ,
                "PORT": str(bot.port),
                "EXPERTS_WEBHOOK_SECRET": "whsec_" + "A" * 40,
            },
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert wrong.returncode == 1 and "HTTP 401" in wrong.stdout
        assert "EXPERTS_WEBHOOK_SECRET" in wrong.stderr
    finally:
        bot.stop()


def test_the_example_describes_one_incident_whose_times_stay_put() -> None:
    first, again = example_notification(1), example_notification(1)
    assert first == again
    second = example_notification(2)
    assert second["incident"]["createdDateTime"] == first["incident"]["createdDateTime"]
    a1 = [a["time"] for a in first["managedResponse"]["completedActions"]]
    assert [a["time"] for a in second["managedResponse"]["completedActions"]][:1] == a1
    updates = [example_notification(r)["incident"]["lastUpdateDateTime"] for r in (1, 2, 3, 4)]
    assert updates == sorted(updates) and len(set(updates)) == 4


def test_the_first_local_run_signs_with_the_secret_the_bot_keeps(tmp_path: Path) -> None:
    """No EXPERTS_WEBHOOK_SECRET anywhere: the bot makes one in its data directory, says where
    it listens, and ``notify`` finds the secret there; a restart keeps the same secret."""
    data = tmp_path / "data"
    env = {"BOT_DATA_DIR": str(data), "EXPERTS_WEBHOOK_SECRET": ""}
    bot = BotProcess(env, tmp_path / "logs")
    bot.start()
    try:
        log = bot.log_path.read_text()
        assert f"Listening on http://127.0.0.1:{bot.port} " in log
        assert f"Experts API secret: {data / 'experts-webhook-secret'}" in log
        kept = data / "experts-webhook-secret"
        assert kept.stat().st_mode & 0o777 == 0o600
        secret = kept.read_text()
        cli_env = {**os.environ, **env, "PORT": str(bot.port)}
        sent = subprocess.run(
            [sys.executable, "-m", "bot", "notify", "--example", "--guidance-only"],
            cwd=REPO_ROOT,
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert sent.stdout.startswith("HTTP 202")
        status = subprocess.run(
            [sys.executable, "-m", "bot", "notify", "--status", "2972395"],
            cwd=REPO_ROOT,
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert status.returncode == 0, status.stdout + status.stderr
        state = json.loads(status.stdout.split("\n", 1)[1])
        for message in state["outbox"]:
            for key in ("enqueuedAt", "availableAt"):
                assert datetime.fromisoformat(message[key].replace("Z", "+00:00"))
            assert message["state"] != "done" or message["attempts"] >= 1
        bot.stop()
        bot.start()
        assert kept.read_text() == secret
    finally:
        bot.stop()
