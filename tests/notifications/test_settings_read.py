"""The settings every notification is checked against: read from the store on every request
(only the ETag while it is unchanged), so another instance's change applies to the next one."""

from __future__ import annotations

from pathlib import Path

from bot.onboarding import OnboardingService
from bot.storage.sqlite import SqliteStore
from bot.tenant.demo import DemoTenantDirectory
from tests.notifications.support import TENANT, seed_settings, settings_record


async def test_a_change_committed_elsewhere_is_seen_by_the_next_read(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "bot.sqlite3")
    reads: list[str] = []
    read = store.read

    async def counting_read(key: str) -> object:
        reads.append(key)
        return await read(key)

    store.read = counting_read  # type: ignore[method-assign,assignment]
    onboarding = OnboardingService(store, DemoTenantDirectory.load())
    assert (await onboarding.current(TENANT)).version == 0  # nothing stored yet
    await seed_settings(store, settings_record(respond=True))
    assert (await onboarding.current(TENANT)).settings.respond
    reads.clear()
    assert (await onboarding.current(TENANT)).settings.respond
    assert reads == []  # unchanged: only its ETag was read
    # Another instance (another process on PostgreSQL) commits new settings.
    await seed_settings(store, settings_record(respond=False))
    assert not (await onboarding.current(TENANT)).settings.respond
    await store.delete(f"tenants/{TENANT}/settings")
    assert (await onboarding.current(TENANT)).version == 0
    await store.close()
