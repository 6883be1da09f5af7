"""Where the Managed response channel is: what the provisioning saga recorded, when it is ready.

Provisioning (``bot/provisioning``) owns the Defender Experts team; this is the one place that
reads its record, through ``bot.provisioning.target.channel_target``.
"""

from __future__ import annotations

from bot.notifications.ports import ManagedChannel
from bot.provisioning.target import channel_target
from bot.storage import Store


class StoredChannelDirectory:
    """The channel to post in, or None when Teams is off or the channel isn't ready yet."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def managed_response_channel(self, tenant_id: str) -> ManagedChannel | None:
        target = await channel_target(self._store, tenant_id)
        if target is None:
            return None
        return ManagedChannel(
            team_id=target.team_id,
            channel_id=target.channel_id,
            team_reference=dict(target.team_reference),
        )
