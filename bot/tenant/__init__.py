"""Tenant directory port and its adapters (the bundled demo tenant; Microsoft Graph)."""

from bot.tenant.ports import (
    ADMIN_ROLE_NAMES,
    GLOBAL_ADMINISTRATOR,
    SECURITY_ADMINISTRATOR,
    DirectoryEntry,
    GroupRef,
    TenantDirectory,
)

__all__ = [
    "ADMIN_ROLE_NAMES",
    "GLOBAL_ADMINISTRATOR",
    "SECURITY_ADMINISTRATOR",
    "DirectoryEntry",
    "GroupRef",
    "TenantDirectory",
]
