from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.onboarding import OnboardingService
from bot.storage.memory import MemoryStore
from bot.tenant.demo import DemoTenantDirectory


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def directory() -> DemoTenantDirectory:
    return DemoTenantDirectory.load()


@pytest.fixture
def service(store: MemoryStore, directory: DemoTenantDirectory) -> OnboardingService:
    return OnboardingService(store, directory, clock=Clock())
