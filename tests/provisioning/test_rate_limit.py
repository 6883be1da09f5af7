"""The welcome post counts against Teams' limits like every other post as the bot: it takes its
slot from the limiter the incident posts use (one limiter per process, or the shared one), on
the Managed response channel's thread."""

from __future__ import annotations

import asyncio

from bot.notifications.ratelimit import THREAD_WINDOWS, TeamsRateLimiter, with_margin
from bot.onboarding.model import ServiceSettings
from bot.provisioning.model import Status
from bot.provisioning.target import channel_target
from bot.storage.memory import MemoryStore
from tests.messenger import FakeMessenger
from tests.provisioning.conftest import ServiceFactory
from tests.provisioning.support import (
    ADMIN,
    ADMIN_CHAT,
    TEAMS_ON,
    installation,
    provision,
    remember_admin_chat,
)
from tests.standins.microsoft import TENANT


class VirtualTime:
    """The limiter's clock and sleep: a wait moves the clock on instead of waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waited = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.waited += seconds
        await asyncio.sleep(0)


class CountingLimiter(TeamsRateLimiter):
    """Teams' limiter, noting when each slot was taken and on which thread."""

    starts: list[tuple[float, str]]

    def try_acquire(self, tenant_id: str, thread_id: str) -> float:
        wait = super().try_acquire(tenant_id, thread_id)
        if wait == 0:
            self.starts.append((self.clock(), thread_id))
        return wait


def within_every_window(starts: list[float]) -> bool:
    """No window of Teams' per-thread limits holds more starts than it allows."""
    ordered = sorted(starts)
    return all(
        ordered[i + limit] - ordered[i] >= span - 1e-9  # float rounding of start + span
        for span, limit in with_margin(THREAD_WINDOWS)
        for i in range(len(ordered) - limit)
    )


async def test_the_welcome_post_waits_for_the_channel_s_slot_after_incident_posts(
    make_service: ServiceFactory, store: MemoryStore, messenger: FakeMessenger
) -> None:
    time = VirtualTime()
    limiter = CountingLimiter(clock=time.clock, sleep=time.sleep)
    limiter.starts = []
    service = make_service(limiter=limiter)
    await remember_admin_chat(store)
    await service.on_settings(TENANT, TEAMS_ON, ServiceSettings(), ADMIN)
    await service.wait_idle()
    record = await service.record(TENANT)
    assert record is not None and record.status is Status.WAITING
    channel = record.channel_id
    # Incident posts into the Managed response channel fill its one-second window, as the
    # delivery worker takes a slot before each post.
    for _ in range(7):
        async with limiter.slot(TENANT, channel):
            pass  # an incident post, answered at once
    assert time.waited == 0

    await service.on_team_installation(installation(record.team_id))
    await service.wait_idle()
    # ... and one more incident post right after the welcome.
    async with limiter.slot(TENANT, channel):
        pass

    record = await service.record(TENANT)
    assert record is not None and record.status is Status.READY
    welcome = [p for p in messenger.of_kind("post") if p.channel_id == channel]
    assert len(welcome) == 1
    on_channel = [at for at, thread in limiter.starts if thread == channel]
    assert len(on_channel) == 9  # 8 incident posts and the welcome post
    assert time.waited > 0  # the welcome waited for the channel's window
    assert within_every_window(on_channel)
    target = await channel_target(store, TENANT)
    assert target is not None and target.channel_id == channel  # where incidents are posted


async def test_without_other_posts_the_welcome_post_takes_its_slot_at_once(
    make_service: ServiceFactory, store: MemoryStore, messenger: FakeMessenger
) -> None:
    time = VirtualTime()
    limiter = CountingLimiter(clock=time.clock, sleep=time.sleep)
    limiter.starts = []
    service = make_service(limiter=limiter)
    await provision(service, store)
    record = await service.record(TENANT)
    assert record is not None
    # The welcome post on the channel; the progress card's calls on the admin's chat.
    assert {thread for _, thread in limiter.starts} == {record.channel_id, ADMIN_CHAT}
    assert [t for _, t in limiter.starts if t != ADMIN_CHAT] == [record.channel_id]
    assert time.waited == 0
    assert [p.channel_id for p in messenger.of_kind("post")] == [record.channel_id]


async def test_the_progress_card_s_updates_take_slots_on_the_admin_s_chat(
    make_service: ServiceFactory, store: MemoryStore, messenger: FakeMessenger
) -> None:
    """The saga's steps can follow each other within milliseconds, each updating the card:
    the updates keep to the personal chat's limits like any other call as the bot."""
    time = VirtualTime()
    limiter = CountingLimiter(clock=time.clock, sleep=time.sleep)
    limiter.starts = []
    service = make_service(limiter=limiter)
    await provision(service, store)
    record = await service.record(TENANT)
    assert record is not None
    in_chat = [at for at, thread in limiter.starts if thread == ADMIN_CHAT]
    calls = [s for s in messenger.sent if s.conversation_id == ADMIN_CHAT]
    assert len(in_chat) == len(calls) >= 5  # the post and every update took a slot
    assert within_every_window(in_chat)
