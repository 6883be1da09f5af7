"""Test helpers for notifications: the issue's example body, settings, a channel, fakes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from bot.devtools.notify import example_notification
from bot.mail.ports import MailMessage
from bot.notifications.ports import Ledger
from bot.notifications.worker import DeliveryWorker
from bot.onboarding.model import (
    Contact,
    Exclusions,
    Group,
    Purpose,
    ServiceSettings,
    SettingsRecord,
)
from bot.provisioning.model import Status, Step, TeamsRecord, channel_reference, teams_key
from bot.storage import Store
from bot.tenant.demo import DemoTenantDirectory

TENANT = "4f1c3a2e-7d5b-4e8a-9c21-6b0d8e3f5a17"
TEAM_ID = "19:3f0c2a8e5b7d4c1e9a6f0b2d8c4e1a7f@thread.tacv2"
CHANNEL_ID = "19:7c2e9a0f4b1d4e8a8f3c6b5d2a1e0f9c@thread.tacv2"
BOT_ID = "9e7b2c41-3f6d-4a8e-b5c2-1d0f7a6e8b93"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ADELE = ("1a2b3c4d-0003-4e5f-8a9b-0c1d2e3f4a03", "Adele Vance")
MEGAN = ("1a2b3c4d-0002-4e5f-8a9b-0c1d2e3f4a02", "Megan Bowen")
PATTI = "1a2b3c4d-0005-4e5f-8a9b-0c1d2e3f4a05"  # high-value, Finance team, Executives
ISAIAH = "1a2b3c4d-0004-4e5f-8a9b-0c1d2e3f4a04"  # Finance team
FINANCE_TEAM = "8d2f1c0b-2001-4d4e-8f9a-3b2c1d0e9f01"


def example(revision: int = 1, incident_id: str = "2972395", **incident: Any) -> dict[str, Any]:
    """The product's example incident (``python -m bot notify --example``, the one example body),
    as revision 1 reads, numbered ``revision``; ``incident`` overrides fields of the incident."""
    body = example_notification(1, incident_id)
    body["incident"].update(incident)
    body["managedResponse"]["revision"] = revision
    return body


def revised(revision: int, incident_id: str = "2972395") -> dict[str, Any]:
    """A plausible later revision: status moves on, and new actions appear."""
    body = example(revision, incident_id)
    if revision >= 2:
        body["managedResponse"]["completedActions"].append(
            {
                "id": f"c{revision}",
                "type": "quarantineFile",
                "target": {"kind": "file", "id": f"sha-{revision}", "name": f"evil{revision}.exe"},
                "status": "completed",
            }
        )
    if revision >= 3:
        body["incident"]["status"] = "resolved"
    return body


def settings_record(
    *,
    respond: bool = True,
    teams: bool = True,
    contacts: bool = True,
    exclusions: Exclusions | None = None,
) -> SettingsRecord:
    people = (
        (
            Contact("g1", "Security Operations", "secops@contoso.com", "group", Purpose.INCIDENT),
            Contact("u2", "Megan Bowen", "meganb@contoso.com", "user", Purpose.SERVICE_REVIEW),
        )
        if contacts
        else ()
    )
    return SettingsRecord(
        version=1,
        settings=ServiceSettings(
            investigate=True,
            respond=respond,
            exclusions=exclusions or Exclusions(),
            contacts=people,
            communicate_on_teams=teams,
        ),
    )


FINANCE_EXCLUDED = Exclusions(
    device_groups=(Group("101", "Finance workstations"),),
    user_groups=(Group(FINANCE_TEAM, "Finance team"),),
)


async def seed_settings(store: Store, record: SettingsRecord | None = None) -> None:
    """Committed settings whose follow-up work (emails, provisioning) already ran."""
    record = record or settings_record()
    await store.write(f"tenants/{TENANT}/settings", record.to_json(), etag="*")
    await store.write(f"tenants/{TENANT}/settings-applied", {"version": record.version}, etag="*")


def team_reference(service_url: str) -> dict[str, Any]:
    return {
        "activityId": None,
        "bot": {"id": f"28:{BOT_ID}", "name": "Defender Experts"},
        "channelId": "msteams",
        "conversation": {
            "id": TEAM_ID,
            "isGroup": True,
            "conversationType": "channel",
            "tenantId": TENANT,
        },
        "serviceUrl": service_url,
    }


AAD_GROUP_ID = "5b8e2d1c-3001-4a6f-9c0e-7d1b2a3c4e01"


async def seed_channel(store: Store, service_url: str = "http://127.0.0.1:9/") -> None:
    """The record a finished provisioning saga leaves: the channel is ready for posts."""
    reference = team_reference(service_url)
    record = TeamsRecord(
        tenant_id=TENANT,
        status=Status.READY,
        step=Step.WELCOME,
        team_id=AAD_GROUP_ID,
        team_thread_id=TEAM_ID,
        channel_id=CHANNEL_ID,
        app_installed=True,
        team_reference=reference,
        channel_reference=channel_reference(reference, CHANNEL_ID),
    )
    await store.write(teams_key(TENANT), record.to_json(), etag="*")


async def remove_channel(store: Store) -> None:
    await store.delete(teams_key(TENANT))


class FailingDirectory:
    """The demo tenant, except that the named calls raise (Graph or Defender down)."""

    def __init__(self, *failing: str, error: Exception | None = None) -> None:
        self._demo = DemoTenantDirectory.load()
        self._failing = set(failing)
        self._error = error or ConnectionError("Defender for Endpoint timed out")

    def __getattr__(self, name: str) -> Any:
        if name in self._failing:

            async def fail(*args: Any, **kwargs: Any) -> Any:
                raise self._error

            return fail
        return getattr(self._demo, name)


async def run_once(worker: DeliveryWorker, ledger: Ledger, limit: int = 16) -> int:
    """One round of what the worker's run loop does: lease what is due now and deliver it, but
    waiting for every message to finish (deterministic). Returns how many were handled."""
    leased = await ledger.lease(limit, 600.0)
    await asyncio.gather(*(worker.process(item) for item in leased))
    return len(leased)


async def drain(
    worker: DeliveryWorker, ledger: Ledger, clock: FakeClock, max_rounds: int = 100_000
) -> None:
    """Deliver until the outbox is empty, moving the fake clock on until retries are due."""
    for _ in range(max_rounds):
        if await run_once(worker, ledger):
            continue
        due = await ledger.next_due()
        if due is None:
            return
        await clock.sleep(max(due - clock(), 0.001))
    raise RuntimeError("the outbox did not drain")


class FakeClock:
    """Wall time that only moves when someone sleeps."""

    def __init__(self, start: float = 1_795_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


@dataclass
class RecordingMailer:
    messages: list[MailMessage] = field(default_factory=list)

    async def send(self, message: MailMessage) -> None:
        self.messages.append(message)
