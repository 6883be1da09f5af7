"""Fakes and helpers for the provisioning saga's tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.actions import Actor, CardAction, TeamInstallation
from bot.conversations import personal_chat_key
from bot.messaging import JSON
from bot.onboarding.model import ServiceSettings, SettingsRecord
from bot.provisioning.ports import TeamsProvisioner
from bot.storage import Store
from bot.storage.base import Item
from tests.standins.microsoft import ADELE, ALEX, TENANT

ADMIN = Actor(ALEX, "Alex Wilber", TENANT)
NOT_ADMIN = Actor(ADELE, "Adele Vance", TENANT)
ADMIN_CHAT = "a:1alex-personal-chat"
SERVICE_URL = "https://smba.trafficmanager.net/amer/"
BOT = {"id": "28:9e7b2c41-3f6d-4a8e-b5c2-1d0f7a6e8b93", "name": "Defender Experts"}
TEAMS_ON = SettingsRecord(version=1, settings=ServiceSettings(communicate_on_teams=True))
TEAMS_OFF = SettingsRecord(version=2, settings=ServiceSettings(communicate_on_teams=False))


class Crash(BaseException):
    """The process dies here: nothing after it runs (not an Exception, so nothing catches it)."""


async def remember_admin_chat(store: Store, user_id: str = ALEX) -> JSON:
    """What the transport stores when the admin writes to the bot in a personal chat."""
    reference = {
        "activityId": "1",
        "user": {"id": "29:alex", "name": "Alex Wilber", "aadObjectId": user_id},
        "bot": BOT,
        "conversation": {"id": ADMIN_CHAT, "conversationType": "personal", "tenantId": TENANT},
        "channelId": "msteams",
        "serviceUrl": SERVICE_URL,
    }
    await store.write(f"conversations/{ADMIN_CHAT}/reference", reference, etag="*")
    await store.write(personal_chat_key(TENANT, user_id), reference, etag="*")
    return reference


def installation(aad_group_id: str, thread_id: str = "", *, added: bool = True) -> TeamInstallation:
    """The bot's installation event in a team, as the transport hands it over."""
    thread = thread_id or f"19:{aad_group_id[:8]}@thread.tacv2"
    return TeamInstallation(
        tenant_id=TENANT,
        team_id=thread,
        aad_group_id=aad_group_id,
        team_name="Defender Experts team",
        reference={
            "activityId": "f:1",
            "user": {"id": "29:alex", "aadObjectId": ALEX},
            "bot": BOT,
            "conversation": {
                "id": thread,
                "conversationType": "channel",
                "isGroup": True,
                "tenantId": TENANT,
            },
            "channelId": "msteams",
            "serviceUrl": SERVICE_URL,
        },
        added=added,
    )


def card_action(verb: str, actor: Actor = ADMIN, message_id: str = "progress-1") -> CardAction:
    return CardAction(
        actor=actor, verb=verb, data={}, conversation_id=ADMIN_CHAT, message_id=message_id
    )


class CrashAfter:
    """A TeamsProvisioner whose process dies right after ``call`` answers: its answer is lost."""

    def __init__(self, inner: TeamsProvisioner, call: str) -> None:
        self.inner = inner
        self.call = call

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        if name != self.call:
            return method

        async def dying(*args: Any) -> Any:
            await method(*args)
            raise Crash(f"after {name}")

        return dying


class FailOnce:
    """A TeamsProvisioner whose next ``call`` raises ``error`` without reaching Microsoft."""

    def __init__(self, inner: TeamsProvisioner, call: str, error: Exception) -> None:
        self.inner = inner
        self.call = call
        self.error: Exception | None = error

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        if name != self.call:
            return method

        async def failing(*args: Any) -> Any:
            error, self.error = self.error, None
            if error is not None:
                raise error
            return await method(*args)

        return failing


class CrashingStore(Store):
    """A store whose process dies at the ``at``-th write of one key: ``before`` it is stored
    (what the step did is lost), or right ``after``. Once dead, every write dies too."""

    def __init__(self, inner: Store, key: str, *, at: int, when: str = "after") -> None:
        assert when in ("before", "after")
        self.inner = inner
        self.key = key
        self.at = at
        self.when = when
        self.writes = 0
        self.crashed = False
        self.lost: JSON | None = None
        """The value the crash kept from being stored (``before``)."""

    async def read(self, key: str) -> Item | None:
        return await self.inner.read(key)

    async def write(self, key: str, value: Mapping[str, Any], *, etag: str | None) -> str:
        if self.crashed:
            raise Crash("the process is gone")
        if key != self.key:
            return await self.inner.write(key, value, etag=etag)
        self.writes += 1
        if self.writes == self.at and self.when == "before":
            self.crashed, self.lost = True, dict(value)
            raise Crash(f"before write {self.at}")
        etag_after = await self.inner.write(key, value, etag=etag)
        if self.writes == self.at:
            self.crashed = True
            raise Crash(f"after write {self.at}")
        return etag_after

    async def delete(self, key: str, *, etag: str | None = None) -> bool:
        if self.crashed:
            raise Crash("the process is gone")
        return await self.inner.delete(key, etag=etag)

    async def list_keys(self, prefix: str) -> list[str]:
        return await self.inner.list_keys(prefix)


def open_urls(card: dict[str, Any]) -> list[dict[str, Any]]:
    from tests.support import walk

    return [n for n in walk(card) if n.get("type") == "Action.OpenUrl"]


async def provision(service: Any, store: Store) -> None:
    """Run a whole provisioning: Teams turned on by the admin, then the bot's installation."""
    await remember_admin_chat(store)
    await service.on_settings(TENANT, TEAMS_ON, ServiceSettings(), ADMIN)
    await service.wait_idle()
    record = await service.record(TENANT)
    assert record is not None
    await service.on_team_installation(installation(record.team_id))
    await service.wait_idle()
