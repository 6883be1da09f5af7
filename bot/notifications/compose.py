"""The delivery worker of the notifications package, built from settings by the composition root."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from bot.config import Settings
from bot.mail.ports import Mailer
from bot.messaging import ChannelMessenger
from bot.notifications.channels import FailureReporter, StoredChannelDirectory
from bot.notifications.ports import SettingsSource
from bot.notifications.ratelimit import TENANT_WINDOWS, TeamsRateLimiter
from bot.notifications.retention import RetentionPolicy
from bot.notifications.service import NotificationService
from bot.notifications.worker import DeliveryWorker, WorkerOptions
from bot.retry import RetryPolicy
from bot.storage import Store


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
    mailer: Mailer,
    *,
    clock: Callable[[], float] = time.time,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    on_channel_failure: FailureReporter | None = None,
    limiter: TeamsRateLimiter | None = None,
) -> DeliveryWorker:
    """The worker that delivers what ``service`` accepted; ``messenger`` makes one attempt per
    call (the outbox owns retries); ``limiter`` is shared with everything else that posts."""
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
        mailer,
        limiter,
        options=options,
        clock=clock,
        sleep=sleep,
    )
    service.set_on_enqueued(worker.wake)
    return worker
