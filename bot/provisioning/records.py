"""The saga's stored record (one per tenant), read and written with compare-and-swap."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot.errors import ConcurrencyError
from bot.provisioning.model import TeamsRecord, teams_key
from bot.storage import Store

MUTATE_ATTEMPTS = 20


class Run:
    """One pass over the stored record: the record, its ETag, and compare-and-swap saves."""

    def __init__(self, records: TeamsRecords, record: TeamsRecord, etag: str) -> None:
        self.records = records
        self.rec = record
        self.etag = etag

    async def save(self, **changes: Any) -> None:
        record = self.rec.evolve(**changes, updated_at=self.records.clock().isoformat())
        self.etag = await self.records.store.write(
            teams_key(record.tenant_id), record.to_json(), etag=self.etag
        )
        self.rec = record


class TeamsRecords:
    """The ``tenants/{tenant}/teams`` documents."""

    def __init__(self, store: Store, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock

    async def get(self, tenant_id: str) -> TeamsRecord | None:
        item = await self.store.read(teams_key(tenant_id))
        return None if item is None else TeamsRecord.from_json(item.value)

    async def load(self, tenant_id: str) -> Run | None:
        item = await self.store.read(teams_key(tenant_id))
        if item is None:
            return None
        return Run(self, TeamsRecord.from_json(item.value), item.etag)

    async def mutate(
        self,
        tenant_id: str,
        change: Callable[[TeamsRecord | None], TeamsRecord | None],
    ) -> TeamsRecord | None:
        """Read, change and write the record, again if someone else wrote in between."""
        for _ in range(MUTATE_ATTEMPTS):
            item = await self.store.read(teams_key(tenant_id))
            current = None if item is None else TeamsRecord.from_json(item.value)
            new = change(current)
            if new is None or new == current:
                return current
            new = new.evolve(updated_at=self.clock().isoformat())
            try:
                await self.store.write(
                    teams_key(tenant_id), new.to_json(), etag=None if item is None else item.etag
                )
            except ConcurrencyError:
                continue
            return new
        raise ConcurrencyError("the Teams record kept changing")

    async def enabled_and_active(self) -> list[str]:
        """The tenants whose saga was running or waiting when the process stopped."""
        tenants = []
        # One step per tenant, not per stored key: a tenant has thousands of incidents.
        for tenant in await self.store.list_segments("tenants/"):
            item = await self.store.read(f"tenants/{tenant}/teams")
            if item is None:
                continue
            record = TeamsRecord.from_json(item.value)
            if record.active:
                tenants.append(record.tenant_id.lower() or tenant)
        return tenants
