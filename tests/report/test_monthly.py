"""The monthly report email goes once per (tenant, month): across a crash between the recorded
intent and the send, and across two schedulers running at once. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.mail.local import EmlMailer
from bot.mail.ports import MailMessage
from bot.report.intent import LEASE_SECONDS, intent_key
from bot.report.service import Recipient, ReportService
from tests.report.support import Ledger
from tests.report.test_service import Clock, Contacts, direct, history


class Crash(BaseException):
    """The process dies here (nothing after it runs)."""


class Mailer:
    """Records every send; writes the .eml files through the local mailer; can die before or
    after a send."""

    def __init__(self, root: Path, *, crash_before: int = 0, crash_after: int = 0) -> None:
        self.eml = EmlMailer(root)
        self.sent: list[str] = []
        self.crash_before = crash_before
        self.crash_after = crash_after

    async def send(self, message: MailMessage) -> None:
        await asyncio.sleep(0)  # let another scheduler run in between
        if self.crash_before:
            self.crash_before -= 1
            raise Crash
        await self.eml.send(message)
        self.sent.append(message.message_id)
        if self.crash_after:
            self.crash_after -= 1
            raise Crash


class TwoContacts(Contacts):
    async def service_review_contacts(self, tenant_id: str) -> list[Recipient]:
        return [
            Recipient("u2", "Megan Bowen", "meganb@contoso.com"),
            Recipient("u3", "Nestor Wilke", "nestorw@contoso.com"),
        ]


def instance(ledger: Ledger, mailer: Mailer, clock: Clock) -> ReportService:
    """One bot process's report service (its own holder id), on the shared store."""
    return ReportService(
        ledger.query,
        tenant_id=ledger.service.tenant_id,
        store=ledger.store,
        mailer=mailer,
        contacts=TwoContacts(),
        clock=clock,
        render=direct,
    )


def emls(root: Path) -> list[Path]:
    return sorted(root.glob("*.eml"))


async def test_a_crash_between_the_intent_and_the_send_sends_once_after_restart(
    ledger: Ledger, tmp_path: Path
) -> None:
    await history(ledger)
    clock = Clock()
    mail = tmp_path / "mail"
    before = Mailer(mail, crash_before=1)
    with pytest.raises(Crash):
        await instance(ledger, before, clock).run_due()
    assert before.sent == [] and emls(mail) == []
    intent = await ledger.store.read(intent_key(ledger.service.tenant_id, "2026-11"))
    assert intent is not None and intent.value["state"] == "sending"
    assert [r["id"] for r in intent.value["recipients"]] == ["u2", "u3"]

    after = Mailer(mail)
    restarted = instance(ledger, after, clock)
    wait = await restarted.run_due()  # the dead holder's lease still runs: nothing yet
    assert after.sent == [] and 1.0 <= wait <= LEASE_SECONDS + 1
    clock.now += wait
    await restarted.run_due()
    assert sorted(after.sent) == [
        f"report/{ledger.service.tenant_id}/2026-11/u2",
        f"report/{ledger.service.tenant_id}/2026-11/u3",
    ]
    clock.now += 3600
    await restarted.run_due()
    await instance(ledger, Mailer(mail), clock).run_due()
    assert len(after.sent) == 2 and len(emls(mail)) == 2


async def test_a_crash_after_a_send_resends_that_email_under_the_same_id(
    ledger: Ledger, tmp_path: Path
) -> None:
    await history(ledger)
    clock = Clock()
    mail = tmp_path / "mail"
    first = Mailer(mail, crash_after=1)
    with pytest.raises(Crash):
        await instance(ledger, first, clock).run_due()
    assert len(first.sent) == 1 and len(emls(mail)) == 1
    clock.now += LEASE_SECONDS + 1
    second = Mailer(mail)
    await instance(ledger, second, clock).run_due()
    # The unmarked email goes again under its id (one .eml per id), then the other one.
    assert second.sent[0] == first.sent[0] and len(second.sent) == 2
    assert len(emls(mail)) == 2


async def test_two_schedulers_at_once_send_one_email_per_contact(
    ledger: Ledger, tmp_path: Path
) -> None:
    await history(ledger)
    clock = Clock()
    mail = tmp_path / "mail"
    mailer = Mailer(mail)
    a, b = instance(ledger, mailer, clock), instance(ledger, mailer, clock)
    await asyncio.gather(a.run_due(), b.run_due(), a.run_due(), b.run_due())
    assert len(mailer.sent) == 2 and len(set(mailer.sent)) == 2
    clock.now += LEASE_SECONDS * 3
    await asyncio.gather(a.run_due(), b.run_due())
    assert len(mailer.sent) == 2 and len(emls(mail)) == 2
    intent = await ledger.store.read(intent_key(ledger.service.tenant_id, "2026-11"))
    assert intent is not None and intent.value["state"] == "done"
    assert set(intent.value["sent"]) == {"u2", "u3"}
