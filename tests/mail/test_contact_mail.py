"""Contact emails: one per added contact, never blocking the settings; sendMail or .eml files."""

from __future__ import annotations

import asyncio
import email
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path
from typing import Any

import pytest

from bot.actions import Actor
from bot.graph.clients import MicrosoftApis
from bot.graph.mail import MESSAGE_ID_HEADER, GraphMailer
from bot.mail.local import EmlMailer
from bot.mail.ports import MailMessage
from bot.mail.service import OUTBOX, ContactMailService
from bot.mail.templates import contact_added
from bot.onboarding.model import Contact, Purpose, ServiceSettings, SettingsRecord
from bot.retry import RetryPolicy
from bot.storage.memory import MemoryStore
from tests.standins.microsoft import SENDER, TENANT, FakeSleep, Microsoft

ALEX = Actor("1a2b3c4d-0001-4e5f-8a9b-0c1d2e3f4a01", "Alex Wilber", TENANT)
MEGAN = Contact(
    "1a2b3c4d-0002-4e5f-8a9b-0c1d2e3f4a02",
    "Megan Bowen",
    "meganb@contoso.com",
    "user",
    Purpose.INCIDENT,
    "+14255550102",
)
SECOPS = Contact(
    "6c1e0b7a-1001-4c3d-9e8f-2a1b0c9d8e01",
    "Security Operations",
    "secops@contoso.com",
    "group",
    Purpose.SERVICE_REVIEW,
)


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
        self.waits: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += timedelta(seconds=seconds)


class ManualTime(FakeTime):
    """A clock whose sleeps last until the test moves time on with :meth:`advance`."""

    def __init__(self) -> None:
        super().__init__()
        self.sleepers: list[tuple[datetime, asyncio.Future[None]]] = []

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (self.now + timedelta(seconds=seconds), woken)
        self.sleepers.append(entry)
        try:
            await woken
        finally:
            self.sleepers.remove(entry)

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        for due, woken in self.sleepers:
            if due <= self.now and not woken.done():
                woken.set_result(None)


async def until(condition: Callable[[], bool]) -> None:
    """Let the event loop run until the condition holds (no clock involved)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


def mail_service(store: MemoryStore, mailer: Any, time: FakeTime, **kw: Any) -> ContactMailService:
    return ContactMailService(store, mailer, clock=time, sleep=time.sleep, **kw)


def record(version: int, *contacts: Contact) -> SettingsRecord:
    return SettingsRecord(version=version, settings=ServiceSettings(contacts=contacts))


class PickyMailer:
    """Fails, with ``error``, every email to the addresses in ``failing``."""

    def __init__(self, failing: set[str], error: Exception | None = None) -> None:
        self.failing = failing
        self.error = error or ConnectionError("mail server unavailable")
        self.sent: list[MailMessage] = []
        self.tried: list[str] = []

    async def send(self, message: MailMessage) -> None:
        self.tried.append(message.to[0])
        if message.to[0] in self.failing:
            raise self.error
        self.sent.append(message)


class FlakyMailer:
    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.sent: list[MailMessage] = []

    async def send(self, message: MailMessage) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("mail server unavailable")
        self.sent.append(message)


def test_the_email_says_what_the_contact_is_for() -> None:
    incident = contact_added(MEGAN, "Alex Wilber", message_id="m-MEGAN")
    assert incident.subject == "You're now a Defender Experts contact for incident notification"
    assert "Alex Wilber added you as a contact for incident notification" in incident.text
    assert "immediate response" in incident.text and "+1 425 555 0102" in incident.text
    review = contact_added(SECOPS, "Alex Wilber", message_id="m-SECOPS")
    assert review.subject == "Your team is now a Defender Experts contact for service review"
    assert "your team, Security Operations" in review.text
    assert "security briefings" in review.html


def test_the_html_is_escaped() -> None:
    hostile = Contact("x", "<script>alert(1)</script>", "x@contoso.com", "user", Purpose.INCIDENT)
    message = contact_added(hostile, "<b>Eve</b>", message_id="m-x")
    assert "<script>" not in message.html and "&lt;script&gt;" in message.html
    assert "<b>Eve</b>" not in message.html


async def test_only_added_contacts_get_an_email(store: MemoryStore) -> None:
    mailer = FlakyMailer()
    service = mail_service(store, mailer, FakeTime())
    await service.on_settings(TENANT, record(1, MEGAN), ServiceSettings(), ALEX)
    await service.wait_idle()
    await service.on_settings(TENANT, record(2, MEGAN, SECOPS), record(1, MEGAN).settings, ALEX)
    await service.on_settings(TENANT, record(2, MEGAN, SECOPS), record(1, MEGAN).settings, ALEX)
    await service.wait_idle()
    assert [m.to[0] for m in mailer.sent] == ["meganb@contoso.com", "secops@contoso.com"]
    assert await store.list_keys(OUTBOX) == []


async def test_a_failed_send_is_retried_with_backoff(store: MemoryStore) -> None:
    mailer = FlakyMailer(failures=2)
    time = FakeTime()
    service = mail_service(store, mailer, time, rand=lambda: 1.0)
    await service.on_settings(TENANT, record(1, MEGAN), ServiceSettings(), ALEX)
    await service.wait_idle()
    assert [m.to[0] for m in mailer.sent] == ["meganb@contoso.com"]
    assert time.waits == [30.0, 60.0]


async def test_an_email_that_keeps_failing_is_kept_as_failed(store: MemoryStore) -> None:
    service = mail_service(
        store,
        FlakyMailer(failures=100),
        FakeTime(),
        policy=RetryPolicy(attempts=3, base_delay=1, max_delay=2),
    )
    await service.on_settings(TENANT, record(1, MEGAN), ServiceSettings(), ALEX)
    await service.wait_idle()
    (key,) = await store.list_keys(OUTBOX)
    item = await store.read(key)
    assert item is not None
    assert item.value["state"] == "failed" and item.value["attempts"] == 3
    assert "mail server unavailable" in item.value["lastError"]


async def test_a_new_contact_is_emailed_at_once_while_another_waits_for_its_retry(
    store: MemoryStore,
) -> None:
    time = ManualTime()
    mailer = PickyMailer({"meganb@contoso.com"})
    service = mail_service(store, mailer, time, rand=lambda: 1.0)
    await service.on_settings(TENANT, record(1, MEGAN), ServiceSettings(), ALEX)
    await until(lambda: bool(time.sleepers))  # Megan's email failed; its retry is in 30 s
    assert mailer.tried == ["meganb@contoso.com"] and time.waits == [30.0]

    await service.on_settings(TENANT, record(2, MEGAN, SECOPS), record(1, MEGAN).settings, ALEX)
    await until(lambda: bool(mailer.sent) and bool(time.sleepers))
    assert [m.to[0] for m in mailer.sent] == ["secops@contoso.com"]  # no time has passed
    assert mailer.tried == ["meganb@contoso.com", "secops@contoso.com"]  # Megan's isn't due
    assert time.waits == [30.0, 30.0]  # and the worker waits for it again

    mailer.failing.clear()
    time.advance(30)
    await service.wait_idle()
    assert [m.to[0] for m in mailer.sent] == ["secops@contoso.com", "meganb@contoso.com"]
    assert await store.list_keys(OUTBOX) == []


async def test_an_email_graph_refuses_is_failed_at_once_and_reported(
    microsoft: Microsoft,
    apis: MicrosoftApis,
    store: MemoryStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    microsoft.graph.granted.discard("Mail.Send")
    time = FakeTime()
    service = ContactMailService(
        store, GraphMailer(apis.graph, SENDER), clock=time, sleep=time.sleep
    )
    with caplog.at_level(logging.WARNING, logger="bot.mail.service"):
        await service.on_settings(TENANT, record(1, MEGAN), ServiceSettings(), ALEX)
        await service.wait_idle()
    assert microsoft.graph.count("POST", "/sendMail$") == 1 and time.waits == []
    (key,) = await store.list_keys(OUTBOX)
    item = await store.read(key)
    assert item is not None
    assert item.value["state"] == "failed" and item.value["attempts"] == 1
    assert item.value["missingPermissions"] == ["Mail.Send"]
    assert "403" in item.value["lastError"]
    (logged,) = caplog.records
    assert logged.levelno == logging.ERROR and "Mail.Send" in logged.getMessage()

    microsoft.graph.granted.add("Mail.Send")  # a failed email stays failed: no retry storm
    await service.on_settings(TENANT, record(2, MEGAN, SECOPS), record(1, MEGAN).settings, ALEX)
    await service.wait_idle()
    assert [
        m["message"]["toRecipients"][0]["emailAddress"]["address"] for m in microsoft.graph.mails
    ] == ["secops@contoso.com"]


async def test_an_unexpected_error_is_not_retried(store: MemoryStore) -> None:
    time = FakeTime()
    mailer = PickyMailer({"meganb@contoso.com"}, ValueError("bad message"))
    service = mail_service(store, mailer, time)
    await service.on_settings(TENANT, record(1, MEGAN), ServiceSettings(), ALEX)
    await service.wait_idle()
    (key,) = await store.list_keys(OUTBOX)
    item = await store.read(key)
    assert item is not None and item.value["state"] == "failed"
    assert mailer.tried == ["meganb@contoso.com"] and time.waits == []


async def test_queued_emails_are_sent_after_a_restart(store: MemoryStore) -> None:
    time = FakeTime()
    first = mail_service(store, FlakyMailer(failures=1), time, rand=lambda: 1.0)
    await first.on_settings(TENANT, record(1, MEGAN), ServiceSettings(), ALEX)
    await first.drain()  # fails once; the retry is due in 30 s
    await first.close()  # the process stops before it
    mailer = FlakyMailer()
    restarted = mail_service(store, mailer, time)
    await restarted.drain()
    assert mailer.sent == []
    time.now += timedelta(seconds=31)
    await restarted.start()
    await restarted.wait_idle()
    assert [m.to[0] for m in mailer.sent] == ["meganb@contoso.com"]
    assert await store.list_keys(OUTBOX) == []


async def test_local_mode_writes_eml_files(store: MemoryStore, tmp_path: Path) -> None:
    mailer = EmlMailer(tmp_path / "mail")
    service = mail_service(store, mailer, FakeTime())
    await service.on_settings(TENANT, record(1, MEGAN, SECOPS), ServiceSettings(), ALEX)
    await service.wait_idle()
    files = sorted((tmp_path / "mail").glob("*.eml"))
    assert len(files) == 2
    parsed = email.message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert parsed["To"] in (
        "Megan Bowen <meganb@contoso.com>",
        "Security Operations <secops@contoso.com>",
    )
    assert parsed["Subject"].startswith("You") or parsed["Subject"].startswith("Your team")
    body = parsed.get_body(("plain",))
    assert body is not None and "What this means" in body.get_content()
    assert parsed.get_body(("html",)) is not None
    assert not list((tmp_path / "mail").glob("*.tmp"))


async def test_graph_send_mail(microsoft: Microsoft, apis: MicrosoftApis) -> None:
    mailer = GraphMailer(apis.graph, SENDER)
    await mailer.send(contact_added(MEGAN, "Alex Wilber", message_id="m-MEGAN"))
    (sent,) = microsoft.graph.mails
    assert sent["from"] == SENDER
    message = sent["message"]
    assert message["toRecipients"] == [
        {"emailAddress": {"address": "meganb@contoso.com", "name": "Megan Bowen"}}
    ]
    assert message["body"]["contentType"] == "HTML"
    assert sent["saveToSentItems"] is False
    (call,) = [c for c in microsoft.graph.calls if c.path.endswith("/sendMail")]
    assert call.path == f"/v1.0/users/{SENDER}/sendMail"


async def test_graph_send_mail_survives_throttling_and_reports_other_failures(
    microsoft: Microsoft, apis: MicrosoftApis, store: MemoryStore, sleep: FakeSleep
) -> None:
    microsoft.graph.fail("POST", "/sendMail$", 429, retry_after="5")
    microsoft.graph.fail("POST", "/sendMail$", 503)
    time = FakeTime()
    service = ContactMailService(
        store, GraphMailer(apis.graph, SENDER), clock=time, sleep=time.sleep
    )
    await service.on_settings(TENANT, record(1, MEGAN), ServiceSettings(), ALEX)
    await service.wait_idle()
    assert len(microsoft.graph.mails) == 1
    assert 5.0 in sleep.waits  # the client honoured Retry-After; the outbox retried the 503
    assert len(time.waits) == 1
    assert microsoft.graph.count("POST", "/sendMail$") == 3


@pytest.mark.parametrize("kind", ["user", "group"])
async def test_a_contact_without_a_mailbox_gets_no_email(store: MemoryStore, kind: str) -> None:
    mailer = FlakyMailer()
    service = mail_service(store, mailer, FakeTime())
    nobody = Contact("n", "No Mail", "", kind, Purpose.INCIDENT)  # type: ignore[arg-type]
    await service.on_settings(TENANT, record(1, nobody), ServiceSettings(), ALEX)
    await service.wait_idle()
    assert mailer.sent == []


async def test_the_local_mailer_writes_each_message_id_once(tmp_path: Path) -> None:
    mailer = EmlMailer(tmp_path / "mail")
    first = contact_added(MEGAN, "Alex Wilber", message_id="contact/t/00000001-incident-u1")
    await mailer.send(first)
    await mailer.send(first)  # a re-send after a crash: the same file, replaced
    other = contact_added(SECOPS, "Alex Wilber", message_id="contact/t/00000001-review-g1")
    await mailer.send(other)
    files = sorted((tmp_path / "mail").glob("*.eml"))
    assert len(files) == 2
    assert mailer.path_of(first.message_id) in files
    parsed = email.message_from_bytes(
        mailer.path_of(first.message_id).read_bytes(), policy=policy.default
    )
    again = EmlMailer(tmp_path / "other")
    await again.send(first)
    reparsed = email.message_from_bytes(
        again.path_of(first.message_id).read_bytes(), policy=policy.default
    )
    assert parsed["Message-ID"] == reparsed["Message-ID"]  # derived from the id, not random


async def test_one_email_to_several_recipients(tmp_path: Path) -> None:
    mailer = EmlMailer(tmp_path / "mail")
    message = MailMessage(
        message_id="n-1",
        to=("secops@contoso.com", "meganb@contoso.com"),
        names=("Security Operations",),
        subject="Incident",
        text="text",
    )
    await mailer.send(message)
    (path,) = (tmp_path / "mail").glob("*.eml")
    parsed = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert parsed["To"] == "Security Operations <secops@contoso.com>, meganb@contoso.com"


async def test_a_message_without_an_id_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        await EmlMailer(tmp_path / "mail").send(
            MailMessage(message_id="", to=("a@contoso.com",), subject="s", text="t")
        )
    assert not list((tmp_path / "mail").glob("*.eml"))


async def test_graph_mail_carries_the_message_id(microsoft: Microsoft, apis: MicrosoftApis) -> None:
    message = contact_added(MEGAN, "Alex Wilber", message_id="contact/t/1-incident-u1")
    await GraphMailer(apis.graph, SENDER).send(message)
    (sent,) = microsoft.graph.mails
    assert sent["message"]["internetMessageHeaders"] == [
        {"name": MESSAGE_ID_HEADER, "value": "contact/t/1-incident-u1"}
    ]


def test_a_message_stored_before_message_ids_still_loads() -> None:
    old = {"toAddress": "meganb@contoso.com", "toName": "Megan Bowen", "subject": "s", "text": "t"}
    message = MailMessage.from_json(old, message_id="contact/t/1-incident-u1")
    assert message.to == ("meganb@contoso.com",) and message.names == ("Megan Bowen",)
    assert message.message_id == "contact/t/1-incident-u1"
    assert MailMessage.from_json(message.to_json()) == message
