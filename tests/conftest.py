from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, sync_playwright

from bot.onboarding import OnboardingService
from bot.storage.memory import MemoryStore
from bot.tenant.demo import DemoTenantDirectory
from tests.browser import CHROMIUM, CHROMIUM_ARGS, RENDERER
from tests.pgcluster import Cluster, throwaway


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


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """One throwaway PostgreSQL cluster for the whole run, stopped and removed after. A missing
    PostgreSQL fails the tests that need it (tests/run_all.sh installs it); none is skipped."""
    cluster = throwaway()
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> Iterator[str]:
    """A new empty database per test, dropped after."""
    url = pg_cluster.create_database()
    yield url
    pg_cluster.drop_database(url)
