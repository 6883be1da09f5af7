"""What the provisioning saga needs from Microsoft Teams: the TeamsProvisioner port.

Implemented by Microsoft Graph (:mod:`bot.graph.teams`) and by the local demo tenant
(:mod:`bot.provisioning.local`). Every method is safe to call again: lookups never change
anything, and the saga looks a resource up before it creates one.

Errors: every method raises the port errors below and nothing else the saga must know:
:class:`Forbidden` (a missing permission, named in ``permissions``, or a policy),
:class:`NotFound`, :class:`Conflict` (already there), :class:`Refused` (400),
:class:`Throttled` and :class:`Unavailable` (retryable), :class:`SignInFailed` and
:class:`Untrusted` (nothing was sent). The adapters translate their library's errors into them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Literal, Protocol

from bot.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PortError,
    Refused,
    SignInFailed,
    Throttled,
    Unavailable,
    Untrusted,
)

Exclusive = Callable[[str], AbstractAsyncContextManager[None]]
"""``async with exclusive(name):`` holds ``name`` against every other holder: in this process
(:class:`LocalExclusive`, one instance) or across instances (a PostgreSQL advisory lock)."""


class LocalExclusive:
    """:data:`Exclusive` for one process: one asyncio lock per name."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}

    @contextlib.asynccontextmanager
    async def __call__(self, name: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            yield


__all__ = [
    "ChannelInfo",
    "Conflict",
    "Exclusive",
    "Forbidden",
    "LocalExclusive",
    "NotFound",
    "OperationState",
    "OperationStatus",
    "PortError",
    "Refused",
    "SignInFailed",
    "TeamCreation",
    "TeamInfo",
    "TeamsProvisioner",
    "Throttled",
    "Unavailable",
    "Untrusted",
]

OperationStatus = Literal["notStarted", "inProgress", "succeeded", "failed"]


@dataclass(frozen=True)
class TeamInfo:
    """A team. ``id`` is its Microsoft 365 group id (the Bot Framework ``aadGroupId``)."""

    id: str
    name: str
    archived: bool = False
    thread_id: str = ""
    """The Bot Framework team id (``19:…@thread.tacv2``), when the backend knows it."""
    provisioned: bool = True
    """False while the group exists but its team is still being created."""
    visibility: str = ""
    """The group's visibility (``Private``, ``Public``, ``HiddenMembership``), when looked up by
    name: the saga only takes over a private team it finds."""

    @property
    def private(self) -> bool:
        return self.visibility.casefold() == "private"


@dataclass(frozen=True)
class ChannelInfo:
    id: str
    name: str
    web_url: str = ""
    archived: bool = False


@dataclass(frozen=True)
class TeamCreation:
    """The answer to a create-team request: the team id, and where to poll the operation
    (``""`` when the team is ready at once)."""

    team_id: str
    operation: str
    thread_id: str = ""


@dataclass(frozen=True)
class OperationState:
    status: OperationStatus
    team_id: str = ""
    error_code: str = ""
    error_message: str = ""


class TeamsProvisioner(Protocol):
    async def find_team(self, name: str) -> TeamInfo | None:
        """The team (or the group of a team still being created) with this display name, with
        its visibility; a private one first when several have that name."""
        ...

    async def get_team(self, team_id: str) -> TeamInfo | None:
        """The team, or None if it doesn't exist (deleted, or not a team yet)."""
        ...

    async def get_group(self, group_id: str) -> TeamInfo | None:
        """The team's Microsoft 365 group (``provisioned`` when it has its team), or None if it
        doesn't exist: what a failed team creation leaves behind."""
        ...

    async def create_team(self, name: str, description: str, owner_id: str) -> TeamCreation:
        """Ask for a private team from the standard template, with ``owner_id`` as owner."""
        ...

    async def create_team_from_group(self, group_id: str) -> TeamCreation:
        """Ask for a team (standard template) on an existing group that has none; it keeps the
        group's name, visibility, owners and members."""
        ...

    async def operation(self, location: str) -> OperationState:
        """The state of a team operation (``teamsAsyncOperation``); poll it no faster than asked."""
        ...

    async def unarchive_team(self, team_id: str) -> str:
        """Start restoring an archived team; returns the operation to poll."""
        ...

    async def find_channel(self, team_id: str, name: str) -> ChannelInfo | None: ...

    async def get_channel(self, team_id: str, channel_id: str) -> ChannelInfo | None:
        """The channel, or None if it was deleted."""
        ...

    async def create_channel(self, team_id: str, name: str, description: str) -> ChannelInfo:
        """Create a standard channel."""
        ...

    async def unarchive_channel(self, team_id: str, channel_id: str) -> str:
        """Start restoring an archived channel; returns the operation to poll ("" if done)."""
        ...

    async def app_installed(self, team_id: str) -> bool:
        """True if the bot's Teams app is installed in the team."""
        ...

    async def install_app(self, team_id: str) -> None:
        """Install the bot's Teams app (from the org catalog) in the team."""
        ...

    def channel_link(self, team: TeamInfo | None, channel: ChannelInfo) -> str:
        """A link that opens the channel in Teams."""
        ...


class PostLimiter(Protocol):
    """Teams' rate limits for everything that posts as the bot (the notifications' limiter,
    shared with incident posts and chat): the welcome post takes its slot like any other post."""

    def slot(self, tenant_id: str, thread_id: str) -> AbstractAsyncContextManager[None]:
        """Wait, if needed, then hold a slot for one connector call on this thread until the
        block (the call and its answer) ends."""
        ...
