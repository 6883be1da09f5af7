"""The bundled demo tenant: a local, offline TenantDirectory for local mode and tests."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from bot.tenant.ports import (
    GLOBAL_ADMINISTRATOR,
    SECURITY_ADMINISTRATOR,
    DirectoryEntry,
    GroupRef,
)

_ADMIN_ROLES = {GLOBAL_ADMINISTRATOR, SECURITY_ADMINISTRATOR}


def load_demo_tenant(path: Path | None = None) -> dict[str, Any]:
    """The demo tenant document: the bundled one, or the file ``path`` names
    (``DEMO_TENANT_FILE``). The one loader, for the bot and the Playground's configuration."""
    if path is not None:
        text = path.read_text(encoding="utf-8")
    else:
        text = resources.files("bot.tenant").joinpath("demo_tenant.json").read_text("utf-8")
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("demo tenant: the file must hold a JSON object")
    return data


def _matches(query: str, *fields: str) -> bool:
    q = query.strip().casefold()
    return not q or any(q in f.casefold() for f in fields)


@dataclass
class DemoTenantDirectory:
    """Answers from the demo tenant document; no network."""

    data: dict[str, Any]
    _users: dict[str, dict[str, Any]] = field(init=False)
    _devices: dict[str, dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        self._users = {u["id"]: u for u in self.data["users"]}
        self._devices = {d["id"]: d for d in self.data["devices"]}

    @classmethod
    def load(cls, path: Path | None = None) -> DemoTenantDirectory:
        return cls(load_demo_tenant(path))

    @property
    def tenant_id(self) -> str:
        return str(self.data["tenantId"])

    async def is_admin(self, user_id: str) -> bool:
        user = self._users.get(user_id)
        return bool(user and _ADMIN_ROLES.intersection(user.get("directoryRoles", [])))

    async def search_device_groups(self, query: str, limit: int) -> list[GroupRef]:
        groups = [GroupRef(g["id"], g["displayName"]) for g in self.data["deviceGroups"]]
        return [g for g in groups if _matches(query, g.name)][:limit]

    async def get_device_group(self, group_id: str) -> GroupRef | None:
        for g in self.data["deviceGroups"]:
            if g["id"] == group_id:
                return GroupRef(g["id"], g["displayName"])
        return None

    async def search_user_groups(self, query: str, limit: int) -> list[GroupRef]:
        groups = [GroupRef(g["id"], g["displayName"]) for g in self.data["userGroups"]]
        return [g for g in groups if _matches(query, g.name)][:limit]

    async def get_user_group(self, group_id: str) -> GroupRef | None:
        for g in self.data["userGroups"]:
            if g["id"] == group_id:
                return GroupRef(g["id"], g["displayName"])
        return None

    def _entries(self) -> list[DirectoryEntry]:
        people = [
            DirectoryEntry(u["id"], u["displayName"], u["mail"], "user") for u in self.data["users"]
        ]
        teams = [
            DirectoryEntry(g["id"], g["displayName"], g["mail"], "group")
            for g in self.data["mailGroups"]
        ]
        return people + teams

    async def search_contacts(self, query: str, limit: int) -> list[DirectoryEntry]:
        return [e for e in self._entries() if _matches(query, e.name, e.mail)][:limit]

    async def get_contact(self, entry_id: str) -> DirectoryEntry | None:
        return next((e for e in self._entries() if e.id == entry_id), None)

    async def device_group_of(self, device_id: str) -> str | None:
        device = self._devices.get(device_id)
        return None if device is None else str(device["rbacGroupId"])

    async def is_high_value_device(self, device_id: str) -> bool:
        device = self._devices.get(device_id)
        return bool(device and device.get("deviceValue") == "High")

    async def user_group_ids(self, user_id: str) -> set[str]:
        return {g["id"] for g in self.data["userGroups"] if user_id in g["members"]}

    async def is_high_value_user(self, user_id: str) -> bool:
        return user_id in self.data.get("highValueUserIds", [])
