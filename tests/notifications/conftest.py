"""A notifications world: SQLite store, settings, channel, service and worker, faked edges."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.actions import Actor, CardAction
from bot.config import Settings
from bot.notifications.compose import build_delivery_worker
from bot.notifications.service import Acceptance, NotificationService, incident_key
from bot.notifications.worker import DeliveryWorker
from bot.onboarding import OnboardingService
from bot.storage.sqlite import SqliteStore
from bot.storage.sqlite_ledger import SqliteLedger
from bot.tenant.demo import DemoTenantDirectory
from cards import to_json
from tests.messenger import FakeMessenger
from tests.notifications.support import (
    TENANT,
    FakeClock,
    RecordingMailer,
    drain,
    run_once,
    seed_channel,
    seed_settings,
)
from tests.standins.connector import ConnectorStandIn
from tests.support import routed


@dataclass
class World:
    store: SqliteStore
    clock: FakeClock
    service: NotificationService
    messenger: FakeMessenger
    mailer: RecordingMailer
    onboarding: OnboardingService
    settings: Settings
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.worker = self.new_worker()

    def new_worker(self) -> DeliveryWorker:
        """A worker on this database, as the one a (re)started process builds."""
        return build_delivery_worker(
            self.settings,
            self.service,
            self.store,
            self.onboarding,
            self.messenger,
            mailer=self.mailer,
            clock=self.clock,
            monotonic=self.clock,
            sleep=self.clock.sleep,
        )

    async def run_once(self, worker: DeliveryWorker | None = None) -> int:
        return await run_once(worker or self.worker, self.service.ledger)

    async def drain(self, worker: DeliveryWorker | None = None) -> None:
        await drain(worker or self.worker, self.service.ledger, self.clock)

    async def accept(self, body: dict[str, Any], webhook_id: str | None = None) -> Acceptance:
        return await self.service.accept(webhook_id or f"msg_{next(self._ids)}", body)

    async def doc(self, incident_id: str = "2972395") -> dict[str, Any]:
        item = await self.store.read(incident_key(TENANT, incident_id))
        assert item is not None
        return item.value

    async def act(
        self,
        verb: str,
        data: dict[str, Any],
        *,
        who: tuple[str, str],
        message_id: str,
        conversation_id: str = "",
        tenant: str = TENANT,
    ) -> dict[str, Any]:
        action = CardAction(
            actor=Actor(who[0], who[1], tenant),
            verb=verb,
            data=data,
            conversation_id=conversation_id,
            message_id=message_id,
        )
        router = routed(self.onboarding.directory, self.service.routes())
        return to_json(await router.card_action(action))


@pytest.fixture
async def connector() -> AsyncIterator[ConnectorStandIn]:
    """A well-behaved Bot Connector stand-in on 127.0.0.1."""
    async with ConnectorStandIn() as c:
        yield c


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    store = SqliteStore(tmp_path / "bot.sqlite3")
    clock = FakeClock()
    directory = DemoTenantDirectory.load()
    onboarding = OnboardingService(store, directory)
    service = NotificationService(SqliteLedger(store, clock), directory, onboarding, clock=clock)
    settings = Settings(data_dir=tmp_path, notify_max_attempts=5)
    await seed_settings(store)
    await seed_channel(store)
    yield World(store, clock, service, FakeMessenger(), RecordingMailer(), onboarding, settings)
    await service.ledger.close()
    await store.close()
