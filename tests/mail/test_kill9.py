"""kill -9 between an email's send and its outbox recording it done: after a restart the email
is sent again under the same message id, and the local mailer replaces its file, so each email
exists once. (With Graph the re-send may deliver a duplicate: docs/notifications.md.)"""

from __future__ import annotations

import asyncio
import email
import sys
from email import policy
from pathlib import Path

from bot.storage.sqlite import SqliteStore
from tests.e2e.harness import BotProcess
from tests.notifications.process import delivery, send, start, until
from tests.notifications.support import SECRET, example, seed_settings, settings_record

REPO = Path(__file__).resolve().parents[2]
CRASH_SITE = Path(__file__).parent / "crash_site"
INCIDENTS = ("3100001", "3100002", "3100003")

CONTACT_RUN = """
import asyncio, os, signal, sys
from pathlib import Path

from bot.mail.local import EmlMailer
from bot.mail.service import ContactMailService
from bot.actions import Actor
from bot.onboarding.model import Contact, Purpose, ServiceSettings, SettingsRecord
from bot.storage.sqlite import SqliteStore

TENANT = "4f1c3a2e-7d5b-4e8a-9c21-6b0d8e3f5a17"


async def main(folder: Path, crash: bool) -> None:
    store = SqliteStore(folder / "bot.sqlite3")
    mailer = EmlMailer(folder / "mail")
    if crash:
        write = mailer.send

        async def send_then_die(message):
            await write(message)
            os.kill(os.getpid(), signal.SIGKILL)  # before the outbox records it done

        mailer.send = send_then_die
    service = ContactMailService(store, mailer)
    if crash:
        contacts = (
            Contact("u1", "Megan Bowen", "meganb@contoso.com", "user", Purpose.INCIDENT),
            Contact(
                "g1", "Security Operations", "secops@contoso.com", "group", Purpose.SERVICE_REVIEW
            ),
        )
        record = SettingsRecord(version=1, settings=ServiceSettings(contacts=contacts))
        await service.on_settings(TENANT, record, ServiceSettings(), Actor("a", "Alex", TENANT))
    else:
        await service.start()
    await service.wait_idle()
    await store.close()


asyncio.run(main(Path(sys.argv[1]), sys.argv[2] == "crash"))
"""


async def run_contact_mail(folder: Path, mode: str) -> int:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CONTACT_RUN,
        str(folder),
        mode,
        cwd=REPO,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await process.communicate()
    assert process.returncode is not None
    assert process.returncode in (0, -9), err.decode()
    return process.returncode


def recipients(folder: Path) -> list[str]:
    found = []
    for path in sorted(folder.glob("*.eml")):
        parsed = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        found.append(str(parsed["To"]))
    return sorted(found)


async def test_contact_emails_after_kill_9_exist_once(tmp_path: Path) -> None:
    assert await run_contact_mail(tmp_path, "crash") == -9
    written = list((tmp_path / "mail").glob("*.eml"))
    assert len(written) == 1  # the first email, sent but not recorded done
    store = SqliteStore(tmp_path / "bot.sqlite3")
    outbox = await store.list_keys("mail/outbox/")
    states = [(await store.read(k)).value["state"] for k in outbox]  # type: ignore[union-attr]
    await store.close()
    assert sorted(states) == ["pending", "sending"]  # the send was recorded before it happened

    assert await run_contact_mail(tmp_path, "resume") == 0
    assert recipients(tmp_path / "mail") == [
        "Megan Bowen <meganb@contoso.com>",
        "Security Operations <secops@contoso.com>",
    ]
    assert not list((tmp_path / "mail").glob("*.tmp"))
    store = SqliteStore(tmp_path / "bot.sqlite3")
    assert await store.list_keys("mail/outbox/") == []
    await store.close()


async def test_notification_emails_after_kill_9_exist_once(tmp_path: Path) -> None:
    """Teams off: each incident goes to the incident contacts by email. The bot is killed with
    SIGKILL after the emails are written and before they are recorded done; after the restart
    every email exists once."""
    data = tmp_path / "data"
    store = SqliteStore(data / "bot.sqlite3")
    await seed_settings(store, settings_record(teams=False))
    await store.close()
    bot = BotProcess(
        {
            "BOT_DATA_DIR": str(data),
            "EXPERTS_WEBHOOK_SECRET": SECRET,
            "PYTHONPATH": str(CRASH_SITE),
            "DE_TEST_CRASH_AT": "after_email",
            "LOG_LEVEL": "INFO",
        },
        tmp_path / "logs",
    )
    await start(bot)
    try:
        for n, incident in enumerate(INCIDENTS):
            assert await send(bot, example(1, incident), f"msg_mail_{n}") == 202

        async def all_written() -> bool:
            return bot.log_text().count("CRASHPOINT after_email") == len(INCIDENTS)

        await until(all_written, "every email written", bot)
        assert len(list((data / "mail").glob("*.eml"))) == len(INCIDENTS)
        bot.kill9()

        bot.env.pop("DE_TEST_CRASH_AT")
        await start(bot)

        async def done() -> bool:
            for incident in INCIDENTS:
                state = await delivery(bot, incident)
                if not state["outbox"] or any(m["state"] != "done" for m in state["outbox"]):
                    return False
            return True

        await until(done, "the deliveries after the restart", bot)
        files = sorted((data / "mail").glob("*.eml"))
        assert len(files) == len(INCIDENTS)  # sent again after the restart, each file replaced
        subjects = []
        for path in files:
            parsed = email.message_from_bytes(path.read_bytes(), policy=policy.default)
            assert parsed["To"] == "Security Operations <secops@contoso.com>"
            subjects.append(str(parsed["Subject"]))
        assert sorted(s.split("incident ")[1].split(":")[0] for s in subjects) == list(INCIDENTS)
        for incident in INCIDENTS:
            state = await delivery(bot, incident)
            assert state["deliveries"]["1"]["state"] == "emailed"
        assert "may have been sent before the bot stopped" in bot.log_text()
    finally:
        bot.stop()
