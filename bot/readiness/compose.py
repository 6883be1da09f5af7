"""Wiring of the readiness package, called from the composition root."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from bot.config import Settings
from bot.conversations import ConversationService
from bot.messaging import ChannelMessenger
from bot.notifications.ports import Ledger, SettingsSource, UnitOfWork
from bot.notifications.ratelimit import RateLimiter, thread_of
from bot.onboarding.model import Purpose
from bot.readiness.ports import ReadinessSignals, ServiceChoices
from bot.readiness.service import ReadinessService
from bot.storage import Store
from bot.tenant import TenantDirectory
from cards import to_json
from cards.elements import AdaptiveCard

log = logging.getLogger(__name__)
JSON = dict[str, Any]


class SettingsChoices:
    """The committed settings, as far as the readiness checks read them."""

    def __init__(self, source: SettingsSource) -> None:
        self._source = source

    async def choices(self, tenant_id: str) -> ServiceChoices:
        record = await self._source.current(tenant_id)
        s = record.settings
        return ServiceChoices(
            incident_contact=any(c.purpose is Purpose.INCIDENT for c in s.contacts),
            service_review_contact=any(c.purpose is Purpose.SERVICE_REVIEW for c in s.contacts),
            communicate_on_teams=s.communicate_on_teams,
            respond=s.respond,
            configured=record.version > 0,
        )


class StoredAdminChats:
    """The personal chats the bot keeps (by the conversations service) of users the directory
    says are administrators. Each card takes its chat's slot of Teams' limits, shared with the
    guide's replies and the progress card in the same chat."""

    def __init__(
        self,
        conversations: ConversationService,
        directory: TenantDirectory,
        messenger: ChannelMessenger,
        limiter: RateLimiter,
    ) -> None:
        self._conversations = conversations
        self._directory = directory
        self._messenger = messenger
        self._limiter = limiter

    async def send_to_admins(self, tenant_id: str, card: AdaptiveCard) -> int:
        sent = 0
        for user_id in await self._conversations.personal_chats(tenant_id):
            try:
                if not await self._directory.is_admin(user_id):
                    continue
                reference = await self._conversations.personal_chat(tenant_id, user_id)
                if reference is None:
                    continue
                thread = thread_of(str((reference.get("conversation") or {}).get("id", "")))
                async with self._limiter.slot(tenant_id, thread):
                    await self._messenger.send(reference, card=to_json(card))
                sent += 1
            except Exception:
                log.exception("could not tell an administrator that the assessment changed")
        return sent


class LedgerEvents:
    """Readiness events join the experts' event feed (``GET /api/events``)."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    async def publish(self, event: JSON) -> None:
        await self._ledger.commit(UnitOfWork(events=(event,)))


def build_readiness_service(
    settings: Settings,
    store: Store,
    directory: TenantDirectory,
    settings_source: SettingsSource,
    ledger: Ledger,
    signals: ReadinessSignals,
    *,
    conversations: ConversationService,
    limiter: RateLimiter,
    messenger: ChannelMessenger | None = None,
    clock: Callable[[], float] = time.time,
) -> ReadinessService:
    return ReadinessService(
        store,
        signals,
        SettingsChoices(settings_source),
        directory.is_admin,
        tenant_id=directory.tenant_id,
        admins=(
            None
            if messenger is None
            else StoredAdminChats(conversations, directory, messenger, limiter)
        ),
        events=LedgerEvents(ledger),
        clock=clock,
        interval_hours=settings.readiness_interval_hours,
    )
