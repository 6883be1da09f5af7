"""The delivery worker of the notifications package, built from settings by the composition root."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from bot.config import Settings
from bot.mail.ports import Mailer
from bot.messaging import ChannelMessenger
from bot.notifications.channels import FailureReporter, StoredChannelDirectory
from bot.notifications.delivery import WorkerOptions
from bot.notifications.ports import SettingsSource
from bot.notifications.ratelimit import TENANT_WINDOWS, RateLimiter, TeamsRateLimiter
from bot.notifications.retention import RetentionPolicy
from bot.notifications.service import NotificationService
from bot.notifications.worker import DeliveryWorker
from bot.retry import RetryPolicy
from bot.storage import Store


def build_rate_limiter(
    settings: Settings,
    *,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> RateLimiter:
    """Teams' per-thread and per-tenant limits for one process, shared by everything that posts
    as the bot (incident posts and the chat's answers count against the same threads). The
    composition root picks a limiter counted across instances for a shared store."""
    return TeamsRateLimiter(clock=monotonic, sleep=sleep, tenant_windows=tenant_windows(settings))


def tenant_windows(settings: Settings) -> tuple[tuple[float, int], ...]:
    """The per-tenant windows with the configured rate."""
    return tuple((span, settings.notify_tenant_rps) for span, _ in TENANT_WINDOWS)


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
    limiter: RateLimiter | None = None,
    claim: Callable[[str, str], Awaitable[bool]] | None = None,
) -> DeliveryWorker:
    """The worker that delivers what ``service`` accepted; ``messenger`` makes one attempt per
    call (the outbox owns retries); ``limiter`` is shared with everything else that posts;
    ``claim`` runs scheduled work once per period across instances (a shared store)."""
    limiter = limiter or build_rate_limiter(settings, monotonic=monotonic, sleep=sleep)
    options = WorkerOptions(
        lease_seconds=settings.notify_lease_seconds,
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
        claim=claim,
    )
    service.set_on_enqueued(worker.wake)
    return worker
