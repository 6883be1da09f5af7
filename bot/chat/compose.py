"""Wiring of the chat package, called from the composition root and the HTTP edge."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from bot.chat.delivery import ChatDelivery
from bot.chat.fanout import InProcessFanout
from bot.chat.places import SettingsAskers, StoredPlaces
from bot.chat.ports import ChatStore, Fanout, Presence
from bot.chat.service import ChatOptions, ChatService
from bot.config import Settings
from bot.messaging import ChannelMessenger
from bot.notifications.ports import SettingsSource
from bot.notifications.ratelimit import RateLimiter
from bot.retry import RetryPolicy
from bot.storage import Store
from bot.tenant import TenantDirectory
from bot.tenant.demo import load_demo_tenant


def served_tenants(settings: Settings, directory: TenantDirectory) -> Callable[[str], bool]:
    """The tenants whose conversations this bot keeps: its own (and the allow-list's)."""
    allowed = {directory.tenant_id.lower()}
    if settings.tenant_allow_list:
        allowed &= set(settings.tenant_allow_list)
    return lambda tenant_id: tenant_id.lower() in allowed


def tenant_display_name(settings: Settings) -> str:
    if settings.tenant_backend != "demo":
        return ""
    return str(load_demo_tenant(settings.demo_tenant_file).get("displayName") or "")


def build_chat_service(
    settings: Settings,
    store: Store,
    directory: TenantDirectory,
    settings_source: SettingsSource | None,
    chat_store: ChatStore,
    *,
    fanout: Fanout | None = None,
    presence: Presence | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> ChatService:
    """The chat service; ``fanout`` and ``presence`` default to this process's own (one
    instance); the composition root passes shared ones when several instances share the store."""
    return ChatService(
        chat_store,
        StoredPlaces(store, directory, tenant_display_name(settings)),
        fanout or InProcessFanout(),
        served=served_tenants(settings, directory),
        askers=SettingsAskers(settings_source, directory) if settings_source else None,
        options=ChatOptions(ack_seconds=settings.chat_ack_seconds),
        presence=presence,
        clock=clock,
        sleep=sleep,
    )


def build_chat_delivery(
    settings: Settings,
    service: ChatService,
    messenger: ChannelMessenger,
    limiter: RateLimiter,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> ChatDelivery:
    delivery = ChatDelivery(
        service.store,
        messenger,
        limiter,
        on_written=service.published,
        retry=RetryPolicy(
            attempts=settings.notify_max_attempts,
            base_delay=1.0,
            max_delay=300.0,
            max_retry_after=3600.0,
        ),
        clock=clock,
        sleep=sleep,
    )
    service.set_on_enqueued(delivery.wake)
    return delivery
