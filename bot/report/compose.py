"""Wiring of the report package, called from the composition root."""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.mail.ports import Mailer
from bot.notifications.ports import SettingsSource
from bot.notifications.revisions import epoch
from bot.onboarding.model import Purpose
from bot.report.ports import ReportQuery
from bot.report.service import Recipient, ReportService
from bot.storage import Store


class SettingsReviewContacts:
    """The committed settings' Service review contacts that have an email address."""

    def __init__(self, source: SettingsSource) -> None:
        self._source = source

    async def service_review_contacts(self, tenant_id: str) -> list[Recipient]:
        record = await self._source.current(tenant_id)
        return [
            Recipient(c.id, c.name, c.mail)
            for c in record.settings.contacts
            if c.purpose is Purpose.SERVICE_REVIEW and c.mail
        ]

    async def service_started(self, tenant_id: str) -> float | None:
        """When the settings were first committed (the first audit entry)."""
        record = await self._source.current(tenant_id)
        times = [t for t in (epoch(a.at) for a in record.audit) if t is not None]
        return min(times) if times else None


def build_report_service(
    query: ReportQuery,
    store: Store,
    tenant_id: str,
    settings_source: SettingsSource,
    mailer: Mailer | None,
    *,
    clock: Callable[[], float] = time.time,
) -> ReportService:
    return ReportService(
        query,
        tenant_id=tenant_id,
        store=store,
        mailer=mailer,
        contacts=SettingsReviewContacts(settings_source),
        clock=clock,
    )
