from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, sync_playwright

from bot.onboarding import OnboardingService
from bot.storage.memory import MemoryStore
from bot.tenant.demo import DemoTenantDirectory
from tests.browser import CHROMIUM, CHROMIUM_ARGS, RENDERER


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


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium, for rendering cards with the official JS renderer (one per module, so
    that it never overlaps another module's Playwright session)."""
    if not RENDERER.exists():
        pytest.fail("node_modules/adaptivecards is missing: run npm ci")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
