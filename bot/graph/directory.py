"""TenantDirectory on Microsoft Graph and the Defender for Endpoint API.

* **Device groups** come from Defender for Endpoint. No documented endpoint lists them, so they
  are the distinct ``rbacGroupId``/``rbacGroupName`` of ``GET /api/machines`` (paged, at most
  10,000 a page; 404 when there are no machines), cached for a few minutes.
* **High-value devices** are machines whose ``deviceValue`` is ``High``.
* **User groups** are security groups, searched with ``$search`` and ``ConsistencyLevel``.
* **Contacts** are users and mail-enabled groups.
* **High-value users** are the (transitive) members of ``HIGH_VALUE_USERS_GROUP_ID``: the
  Defender for Identity "Sensitive" tag and the priority-account tag have no stable Graph API.
* **The admin check** reads the caller's ``transitiveMemberOf`` directory roles by template id,
  and caches the answer for a minute. Without ``RoleManagement.Read.Directory`` Graph still
  answers 200, with limited role objects (``roleTemplateId`` null): that raises ``Forbidden``
  naming the permission, rather than answering that nobody is an administrator.
* Enumerated values from Defender (``deviceValue``) are compared without case: Microsoft's pages
  spell them differently.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from bot.graph.errors import GraphBadRequest, GraphNotFound
from bot.graph.http import ApiClient
from bot.graph.machines import defender_machines
from bot.tenant.ports import (
    GLOBAL_ADMINISTRATOR,
    SECURITY_ADMINISTRATOR,
    DirectoryEntry,
    Forbidden,
    GroupRef,
)

log = logging.getLogger(__name__)

ADMIN_ROLE_TEMPLATES = frozenset({GLOBAL_ADMINISTRATOR, SECURITY_ADMINISTRATOR})
ROLES_PERMISSION = "RoleManagement.Read.Directory"
EVENTUAL = {"ConsistencyLevel": "eventual"}
MACHINES_PAGE_SIZE = 10_000
MAX_QUERY = 100

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_MACHINE_ID = re.compile(r"^[A-Za-z0-9\-]{1,64}$")


def search_phrase(query: str, *properties: str) -> str:
    """A ``$search`` value: each property quoted, OR-ed; quotes and backslashes escaped."""
    text = " ".join(query.split())[:MAX_QUERY]
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    return " OR ".join(f'"{p}:{text}"' for p in properties)


@dataclass(frozen=True)
class _Machines:
    groups: tuple[GroupRef, ...]
    group_of: dict[str, str]
    high_value: frozenset[str]


class _Cache:
    """One value with an expiry, refreshed by one caller at a time."""

    def __init__(self, ttl: float, clock: Callable[[], float]) -> None:
        self._ttl = ttl
        self._clock = clock
        self._value: Any = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def get(self, load: Callable[[], Any]) -> Any:
        if self._value is not None and self._clock() < self._expires:
            return self._value
        async with self._lock:
            if self._value is None or self._clock() >= self._expires:
                self._value = await load()
                self._expires = self._clock() + self._ttl
            return self._value


class GraphTenantDirectory:
    """The customer's directory, read with application permissions."""

    def __init__(
        self,
        graph: ApiClient,
        defender: ApiClient,
        *,
        tenant_id: str,
        high_value_group_id: str = "",
        clock: Callable[[], float] = time.monotonic,
        admin_ttl: float = 60.0,
        inventory_ttl: float = 300.0,
        machines_page_size: int = MACHINES_PAGE_SIZE,
    ) -> None:
        self._graph = graph
        self._defender = defender
        self._tenant_id = tenant_id
        self._high_value_group_id = high_value_group_id
        self._clock = clock
        self._admin_ttl = admin_ttl
        self._admins: dict[str, tuple[bool, float]] = {}
        self._machines = _Cache(inventory_ttl, clock)
        self._high_value_users = _Cache(inventory_ttl, clock)
        self._page_size = max(1, min(machines_page_size, MACHINES_PAGE_SIZE))
        if not high_value_group_id:
            log.warning(
                "HIGH_VALUE_USERS_GROUP_ID is not set: no user is treated as high-value, so "
                "'Exclude all high-value users' excludes nobody"
            )

    @property
    def tenant_id(self) -> str:
        return self._tenant_id

    # ---- the admin check ---------------------------------------------------------------

    async def is_admin(self, user_id: str) -> bool:
        if not _GUID.fullmatch(user_id):
            return False
        key = user_id.lower()
        cached = self._admins.get(key)
        now = self._clock()
        if cached and now < cached[1]:
            return cached[0]
        answer = False
        limited = False
        try:
            async for role in self._graph.pages(
                f"users/{key}/transitiveMemberOf/microsoft.graph.directoryRole",
                params={"$select": "id,roleTemplateId", "$count": "true"},
                headers=EVENTUAL,
            ):
                template = role.get("roleTemplateId")
                if not template:
                    limited = True  # a role the app may not read: which one is unknown
                elif str(template).lower() in ADMIN_ROLE_TEMPLATES:
                    answer = True
                    break
        except GraphNotFound:
            answer = False
        if limited and not answer:
            raise Forbidden(
                "Microsoft Graph returned the user's directory roles without their "
                "roleTemplateId: the app can't read directory roles",
                status=200,
                service="graph",
                permissions=(ROLES_PERMISSION,),
            )
        self._admins[key] = (answer, now + self._admin_ttl)
        if len(self._admins) > 10_000:
            self._admins.pop(next(iter(self._admins)))
        return answer

    # ---- device groups (Defender for Endpoint) -----------------------------------------

    async def _load_machines(self) -> _Machines:
        groups: dict[str, str] = {}
        group_of: dict[str, str] = {}
        high: set[str] = set()
        async for machine in self._all_machines():
            machine_id = str(machine.get("id") or "")
            raw_group = machine.get("rbacGroupId")
            if raw_group is not None and str(raw_group) != "":
                gid = str(raw_group)
                name = str(machine.get("rbacGroupName") or "").strip()
                groups.setdefault(gid, name or f"Device group {gid}")
                if machine_id:
                    group_of[machine_id] = gid
            if _high_value(machine) and machine_id:
                high.add(machine_id)
        ordered = tuple(
            GroupRef(gid, name) for gid, name in sorted(groups.items(), key=lambda g: g[1].lower())
        )
        return _Machines(ordered, group_of, frozenset(high))

    def _all_machines(self) -> AsyncIterator[dict[str, Any]]:
        return defender_machines(self._defender, self._page_size)

    async def _inventory(self) -> _Machines:
        result: _Machines = await self._machines.get(self._load_machines)
        return result

    async def search_device_groups(self, query: str, limit: int) -> list[GroupRef]:
        q = query.strip().casefold()
        groups = (await self._inventory()).groups
        return [g for g in groups if not q or q in g.name.casefold()][:limit]

    async def get_device_group(self, group_id: str) -> GroupRef | None:
        return next((g for g in (await self._inventory()).groups if g.id == group_id), None)

    async def _machine(self, device_id: str) -> dict[str, Any] | None:
        if not _MACHINE_ID.fullmatch(device_id):
            return None
        try:
            return await self._defender.get(f"api/machines/{quote(device_id, safe='')}")
        except (GraphNotFound, GraphBadRequest):
            return None

    async def device_group_of(self, device_id: str) -> str | None:
        inventory = await self._inventory()
        if device_id in inventory.group_of:
            return inventory.group_of[device_id]
        machine = await self._machine(device_id)
        if machine is None or machine.get("rbacGroupId") is None:
            return None
        return str(machine["rbacGroupId"])

    async def is_high_value_device(self, device_id: str) -> bool:
        inventory = await self._inventory()
        if device_id in inventory.high_value or device_id in inventory.group_of:
            return device_id in inventory.high_value
        machine = await self._machine(device_id)
        return bool(machine and _high_value(machine))

    # ---- user groups and contacts (Microsoft Graph) ------------------------------------

    async def search_user_groups(self, query: str, limit: int) -> list[GroupRef]:
        params: dict[str, str | int] = {
            "$filter": "securityEnabled eq true",
            "$count": "true",
            "$select": "id,displayName",
            "$top": max(1, min(limit, 999)),
        }
        if query.strip():
            params["$search"] = search_phrase(query, "displayName")
        else:
            params["$orderby"] = "displayName"
        return [
            GroupRef(str(g["id"]), str(g.get("displayName") or g["id"]))
            async for g in self._graph.pages("groups", params=params, headers=EVENTUAL, limit=limit)
            if g.get("id")
        ]

    async def _object(self, kind: str, object_id: str, select: str) -> dict[str, Any] | None:
        if not _GUID.fullmatch(object_id):
            return None
        try:
            return await self._graph.get(f"{kind}/{object_id}", params={"$select": select})
        except (GraphNotFound, GraphBadRequest):
            return None

    async def get_user_group(self, group_id: str) -> GroupRef | None:
        group = await self._object("groups", group_id, "id,displayName,securityEnabled")
        if not group or not group.get("securityEnabled"):
            return None
        return GroupRef(str(group["id"]), str(group.get("displayName") or group["id"]))

    async def search_contacts(self, query: str, limit: int) -> list[DirectoryEntry]:
        if not query.strip():
            return []
        top = max(1, min(limit, 999))
        users_q = self._graph.pages(
            "users",
            params={
                "$search": search_phrase(query, "displayName", "mail"),
                "$count": "true",
                "$select": "id,displayName,mail",
                "$top": top,
            },
            headers=EVENTUAL,
            limit=limit,
        )
        groups_q = self._graph.pages(
            "groups",
            params={
                "$search": search_phrase(query, "displayName", "mail"),
                "$filter": "mailEnabled eq true",
                "$count": "true",
                "$select": "id,displayName,mail",
                "$top": top,
            },
            headers=EVENTUAL,
            limit=limit,
        )
        users, groups = await asyncio.gather(_collect(users_q), _collect(groups_q))
        entries = [
            DirectoryEntry(str(u["id"]), str(u.get("displayName") or u["mail"]), u["mail"], "user")
            for u in users
            if u.get("id") and u.get("mail")
        ] + [
            DirectoryEntry(str(g["id"]), str(g.get("displayName") or g["mail"]), g["mail"], "group")
            for g in groups
            if g.get("id") and g.get("mail")
        ]
        return entries[:limit]

    async def get_contact(self, entry_id: str) -> DirectoryEntry | None:
        user = await self._object("users", entry_id, "id,displayName,mail")
        if user and user.get("mail"):
            return DirectoryEntry(
                str(user["id"]), str(user.get("displayName") or user["mail"]), user["mail"], "user"
            )
        if user:
            return None
        group = await self._object("groups", entry_id, "id,displayName,mail,mailEnabled")
        if group and group.get("mailEnabled") and group.get("mail"):
            return DirectoryEntry(
                str(group["id"]),
                str(group.get("displayName") or group["mail"]),
                group["mail"],
                "group",
            )
        return None

    async def user_group_ids(self, user_id: str) -> set[str]:
        if not _GUID.fullmatch(user_id):
            return set()
        try:
            return {
                str(g["id"])
                async for g in self._graph.pages(
                    f"users/{user_id}/transitiveMemberOf/microsoft.graph.group",
                    params={"$select": "id,securityEnabled", "$count": "true", "$top": 999},
                    headers=EVENTUAL,
                )
                if g.get("id") and g.get("securityEnabled")
            }
        except GraphNotFound:
            return set()

    async def _load_high_value_users(self) -> frozenset[str]:
        if not self._high_value_group_id:
            return frozenset()
        try:
            return frozenset(
                [
                    str(u["id"]).lower()
                    async for u in self._graph.pages(
                        f"groups/{self._high_value_group_id}/transitiveMembers/microsoft.graph.user",
                        params={"$select": "id", "$count": "true", "$top": 999},
                        headers=EVENTUAL,
                    )
                    if u.get("id")
                ]
            )
        except GraphNotFound:
            log.warning("HIGH_VALUE_USERS_GROUP_ID names a group that doesn't exist")
            return frozenset()

    async def is_high_value_user(self, user_id: str) -> bool:
        if not self._high_value_group_id:
            return False
        members: frozenset[str] = await self._high_value_users.get(self._load_high_value_users)
        return user_id.lower() in members


def _high_value(machine: dict[str, Any]) -> bool:
    return str(machine.get("deviceValue") or "").casefold() == "high"


async def _collect(items: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item async for item in items]
