"""What the services need to know about the customer's tenant: the TenantDirectory port.

Errors: every method raises the port errors below, which the adapters translate into:
:class:`Forbidden` (a missing permission, named in ``permissions``: ``is_admin`` raises it when
the app can't read directory roles, rather than answer that nobody is an administrator),
:class:`Throttled` and :class:`Unavailable` (retryable), :class:`SignInFailed`,
:class:`Untrusted`, :class:`Refused`. A lookup of something that doesn't exist answers None
or False, not :class:`NotFound`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from bot.errors import (
    Forbidden,
    NotFound,
    PortError,
    Refused,
    SignInFailed,
    Throttled,
    Unavailable,
    Untrusted,
)

__all__ = [
    "ADMIN_ROLE_NAMES",
    "GLOBAL_ADMINISTRATOR",
    "SECURITY_ADMINISTRATOR",
    "DirectoryEntry",
    "Forbidden",
    "GroupRef",
    "NotFound",
    "PortError",
    "Refused",
    "SignInFailed",
    "TenantDirectory",
    "Throttled",
    "Unavailable",
    "Untrusted",
]

GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
SECURITY_ADMINISTRATOR = "194ae4cb-b126-40b2-bd5b-6091b380977d"
ADMIN_ROLE_NAMES = ("Global Administrator", "Security Administrator")


@dataclass(frozen=True)
class GroupRef:
    """A device group (Defender for Endpoint) or a security user group (Microsoft Entra ID)."""

    id: str
    name: str


@dataclass(frozen=True)
class DirectoryEntry:
    """A person or a mail-enabled group that can be made a contact."""

    id: str
    name: str
    mail: str
    kind: Literal["user", "group"]


class TenantDirectory(Protocol):
    """The customer's directory, read-only. Implemented by the demo tenant and by Graph."""

    @property
    def tenant_id(self) -> str: ...

    async def is_admin(self, user_id: str) -> bool:
        """True if the user holds Global Administrator or Security Administrator. Raises
        :class:`Forbidden` (naming the permission) when the roles can't be read."""
        ...

    async def search_device_groups(self, query: str, limit: int) -> list[GroupRef]: ...

    async def get_device_group(self, group_id: str) -> GroupRef | None: ...

    async def search_user_groups(self, query: str, limit: int) -> list[GroupRef]: ...

    async def get_user_group(self, group_id: str) -> GroupRef | None: ...

    async def search_contacts(self, query: str, limit: int) -> list[DirectoryEntry]: ...

    async def get_contact(self, entry_id: str) -> DirectoryEntry | None: ...

    async def device_group_of(self, device_id: str) -> str | None:
        """The id of the device group a device belongs to, or None if unknown."""
        ...

    async def is_high_value_device(self, device_id: str) -> bool: ...

    async def user_group_ids(self, user_id: str) -> set[str]:
        """The ids of the security groups the user is a (transitive) member of."""
        ...

    async def is_high_value_user(self, user_id: str) -> bool: ...
