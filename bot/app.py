"""Composition root: builds the services from settings. No HTTP and no Bot Framework here."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Settings
from bot.errors import ConfigError
from bot.onboarding import OnboardingService
from bot.storage import Store, open_store
from bot.tenant import TenantDirectory
from bot.tenant.demo import DemoTenantDirectory


@dataclass
class Services:
    settings: Settings
    store: Store
    directory: TenantDirectory
    onboarding: OnboardingService

    async def close(self) -> None:
        await self.store.close()


def build_directory(settings: Settings) -> TenantDirectory:
    if settings.tenant_backend == "demo":
        return DemoTenantDirectory.load(settings.demo_tenant_file)
    raise ConfigError("TENANT_BACKEND=graph is not available in this build")


async def build_services(
    settings: Settings,
    *,
    store: Store | None = None,
    directory: TenantDirectory | None = None,
) -> Services:
    """Wire every service. Tests may pass their own port implementations."""
    store = store or open_store(settings.resolved_storage_url)
    directory = directory or build_directory(settings)
    onboarding = OnboardingService(store, directory)
    return Services(settings=settings, store=store, directory=directory, onboarding=onboarding)
