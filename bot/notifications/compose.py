"""Wiring of the notifications package, called from the composition root and the transport."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from bot.config import Settings
from bot.mail.local import EmlMailer
from bot.mail.ports import Mailer
from bot.messaging import ChannelMessenger
from bot.notifications.channels import FailureReporter, StoredChannelDirectory
from bot.notifications.ledger import open_ledger
from bot.notifications.ports import SettingsSource
from bot.notifications.ratelimit import TENANT_WINDOWS, TeamsRateLimiter
from bot.notifications.retention import RetentionPolicy
from bot.notifications.service import NotificationService
from bot.notifications.worker import DeliveryWorker, WorkerOptions
from bot.retry import RetryPolicy
from bot.storage import Store
from bot.tenant import TenantDirectory
from bot.tenant.demo import load_demo_tenant

log = logging.getLogger(__name__)


def build_notification_service(
    store: Store,
    directory: TenantDirectory,
    settings_source: SettingsSource,
    *,
    clock: Callable[[], float] = time.time,
) -> NotificationService:
    return NotificationService(open_ledger(store, clock), directory, settings_source, clock=clock)


def _demo_tenant(settings: Settings) -> dict[str, object]:
    return load_demo_tenant(settings.demo_tenant_file)


def messenger_app_id(settings: Settings) -> str:
    """botbuilder needs a non-empty bot id for channel posts: in local mode, the demo bot's."""
    if settings.app_id:
        return settings.app_id
    bot = _demo_tenant(settings).get("bot")
    return str(bot.get("id", "")) if isinstance(bot, dict) else ""


def build_rate_limiter(
    settings: Settings,
    *,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> TeamsRateLimiter:
    """Teams' per-thread and per-tenant limits, shared by everything that posts as the bot
    (incident posts and the chat's answers count against the same threads)."""
    return TeamsRateLimiter(
        clock=monotonic,
        sleep=sleep,
        tenant_windows=tuple((span, settings.notify_tenant_rps) for span, _ in TENANT_WINDOWS),
    )


def build_delivery_worker(
    settings: Settings,
    service: NotificationService,
    store: Store,
    settings_source: SettingsSource,
    messenger: ChannelMessenger,
    *,
    mailer: Mailer | None = None,
    clock: Callable[[], float] = time.time,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    on_channel_failure: FailureReporter | None = None,
    limiter: TeamsRateLimiter | None = None,
) -> DeliveryWorker:
    limiter = limiter or build_rate_limiter(settings, monotonic=monotonic, sleep=sleep)
    options = WorkerOptions(
        max_attempts=settings.notify_max_attempts,
        retry=RetryPolicy(
            attempts=settings.notify_max_attempts,
            base_delay=1.0,
            max_delay=300.0,
            max_retry_after=3600.0,
        ),
        retention=RetentionPolicy.of_days(settings.notify_retention_days),
    )
    worker = DeliveryWorker(
        service.ledger,
        messenger,
        StoredChannelDirectory(store, on_channel_failure)
        if on_channel_failure
        else StoredChannelDirectory(store),
        settings_source,
        mailer or EmlMailer(settings.data_dir / "mail"),
        limiter,
        options=options,
        clock=clock,
        sleep=sleep,
    )
    service.set_on_enqueued(worker.wake)
    return worker
