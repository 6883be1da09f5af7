"""At start-up, the follow-up work of every tenant's unapplied settings is redone, however many
documents each tenant has stored (the tenants are found by a skip-scan, not by listing every
key)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.onboarding import OnboardingService
from bot.storage import Store
from bot.storage.memory import MemoryStore
from bot.storage.sqlite import SqliteStore
from bot.tenant.demo import DemoTenantDirectory
from tests.onboarding.test_guide import Killed, complete_guide
from tests.support import ALEX, TENANT, Flow


@pytest.fixture(params=["memory", "sqlite"])
async def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    s: Store = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "s.db")
    yield s
    await s.close()


async def test_unapplied_settings_of_every_tenant_are_redone(
    any_store: Store, directory: DemoTenantDirectory
) -> None:
    async def dies(tenant_id: str, record: Any, previous: Any, actor: Any) -> None:
        raise Killed

    with pytest.raises(Killed):  # committed, its follow-up lost
        await complete_guide(Flow(OnboardingService(any_store, directory, listeners=[dies]), ALEX))
    settings = await any_store.read(f"tenants/{TENANT}/settings")
    assert settings is not None
    others = ["0-first", "m-middle", "zz-last"]
    for tenant in others:  # the same commit, in other tenants with many other documents
        await any_store.write(f"tenants/{tenant}/settings", settings.value, etag=None)
        for n in range(30):
            await any_store.write(f"tenants/{tenant}/incidents/{n}", {}, etag=None)
            await any_store.write(f"tenants/{tenant}/settings{n}", {}, etag=None)
    await any_store.write("tenants/applied/settings", settings.value, etag=None)
    await any_store.write("tenants/applied/settings-applied", {"version": 1}, etag=None)
    await any_store.write("tenants/no-settings/teams", {}, etag=None)

    redone: list[str] = []

    async def records(tenant_id: str, record: Any, previous: Any, actor: Any) -> None:
        redone.append(tenant_id)
        assert actor.name == "Alex Wilber"

    restarted = OnboardingService(any_store, directory, listeners=[records])
    assert await restarted.resume() == 4
    assert sorted(redone) == sorted([*others, TENANT.lower()])
    assert await restarted.resume() == 0
    assert len(redone) == 4
