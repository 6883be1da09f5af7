from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.graph.clients import MicrosoftApis
from bot.graph.directory import GraphTenantDirectory
from bot.graph.teams import GraphTeamsProvisioner
from bot.provisioning.ports import TeamsProvisioner
from bot.provisioning.service import ProvisioningService
from bot.storage import Store
from bot.storage.memory import MemoryStore
from tests.messenger import FakeMessenger
from tests.standins.microsoft import (
    CATALOG_APP,
    TENANT,
    FakeSleep,
    apis,
    http,
    microsoft,
    sleep,
    standin_ca,
)

__all__ = ["apis", "http", "microsoft", "sleep", "standin_ca"]

ServiceFactory = Callable[..., ProvisioningService]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=10)
        return self.now


def graph_provisioner(apis: MicrosoftApis) -> GraphTeamsProvisioner:
    return GraphTeamsProvisioner(apis.graph, catalog_app_id=CATALOG_APP, tenant_id=TENANT)


@pytest.fixture
def messenger() -> FakeMessenger:
    return FakeMessenger()


@pytest.fixture
async def make_service(
    apis: MicrosoftApis, store: MemoryStore, messenger: FakeMessenger, sleep: FakeSleep
) -> AsyncIterator[ServiceFactory]:
    made: list[ProvisioningService] = []

    def make(
        backing: Store | None = None,
        provisioner: TeamsProvisioner | None = None,
        **options: Any,
    ) -> ProvisioningService:
        service = ProvisioningService(
            backing or store,
            provisioner or graph_provisioner(apis),
            messenger,
            GraphTenantDirectory(apis.graph, apis.defender, tenant_id=TENANT),
            **{
                "poll_seconds": 30.0,
                "max_polls": 10,
                "sleep": sleep,
                "clock": Clock(),
                "rand": lambda: 0.5,
                **options,
            },
        )
        made.append(service)
        return service

    yield make
    for service in made:
        await service.close()
