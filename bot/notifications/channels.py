"""Where the Managed response channel is: what the provisioning saga recorded, when it is ready.

Provisioning (``bot/provisioning``) owns the Defender Experts team; this is the one place that
reads its record, through ``bot.provisioning.target.channel_target``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.notifications.ports import ManagedChannel
from bot.provisioning.target import channel_target
from bot.storage import Store

FailureReporter = Callable[[str, int | None], Awaitable[bool]]


async def _no_repair(tenant_id: str, status: int | None) -> bool:
    return False


class StoredChannelDirectory:
    """The channel to post in, or None when Teams is off or the channel isn't ready yet.

    ``on_failure`` is provisioning's ``report_delivery_failure``: on a 403 or 404 it checks the
    team and the channel and, if either was deleted or archived, starts repairing them.
    """

    def __init__(self, store: Store, on_failure: FailureReporter = _no_repair) -> None:
        self._store = store
        self._on_failure = on_failure

    async def report_failure(self, tenant_id: str, status: int | None) -> bool:
        return await self._on_failure(tenant_id, status)

    async def managed_response_channel(self, tenant_id: str) -> ManagedChannel | None:
        target = await channel_target(self._store, tenant_id)
        if target is None:
            return None
        return ManagedChannel(
            team_id=target.team_id,
            channel_id=target.channel_id,
            team_reference=dict(target.team_reference),
        )
