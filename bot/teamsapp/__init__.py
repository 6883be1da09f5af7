"""The Teams app: its manifest template (``manifest.json``, with ``${{APP_ID}}``,
``${{BOT_ID}}`` and ``${{BOT_DOMAIN}}`` placeholders) and icons, shipped with the bot.

The manifest is the one source of the app's resource-specific consent (RSC) permissions:
``python -m bot manifest`` packages it for upload, and the Graph provisioner sends the same
permissions as the ``consentedPermissionSet`` when it installs the app in the team.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

TEMPLATE_DIR = Path(__file__).resolve().parent
MANIFEST = TEMPLATE_DIR / "manifest.json"

PermissionType = Literal["application", "delegated"]


@dataclass(frozen=True)
class RscPermission:
    """A resource-specific permission the app asks for, e.g. ``ChannelMessage.Read.Group``
    (application)."""

    name: str
    type: PermissionType


def manifest_template() -> dict[str, Any]:
    """The manifest template, placeholders left in."""
    data = json.loads(MANIFEST.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{MANIFEST}: the manifest must be a JSON object")
    return data


def rsc_permissions(manifest: dict[str, Any] | None = None) -> tuple[RscPermission, ...]:
    """The RSC permissions of ``authorization.permissions.resourceSpecific``."""
    manifest = manifest_template() if manifest is None else manifest
    listed = ((manifest.get("authorization") or {}).get("permissions") or {}).get(
        "resourceSpecific"
    ) or []
    found = []
    for entry in listed:
        kind = str(entry.get("type", "")).lower()
        if kind not in ("application", "delegated"):
            raise ValueError(f"manifest: unknown RSC permission type {entry.get('type')!r}")
        found.append(RscPermission(str(entry["name"]), kind))  # type: ignore[arg-type]
    return tuple(found)
