"""Where managed response notifications go: the Managed response channel, when it is ready.

For other services (notifications): read this, never the saga's internals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.provisioning.model import TeamsRecord, teams_key
from bot.storage import Store


@dataclass(frozen=True)
class ChannelTarget:
    """Post with ``ChannelMessenger.post_to_channel(team_reference, channel_id, ...)``."""

    tenant_id: str
    team_id: str
    channel_id: str
    channel_url: str
    team_reference: dict[str, Any]
    channel_reference: dict[str, Any]


def target_of(record: TeamsRecord) -> ChannelTarget | None:
    """The channel to post in, or None when Teams is off or the channel isn't ready."""
    if not record.ready or not record.team_reference or not record.channel_id:
        return None
    return ChannelTarget(
        tenant_id=record.tenant_id,
        team_id=record.team_id,
        channel_id=record.channel_id,
        channel_url=record.channel_url,
        team_reference=dict(record.team_reference),
        channel_reference=dict(record.channel_reference),
    )


async def channel_target(store: Store, tenant_id: str) -> ChannelTarget | None:
    item = await store.read(teams_key(tenant_id))
    return None if item is None else target_of(TeamsRecord.from_json(item.value))
