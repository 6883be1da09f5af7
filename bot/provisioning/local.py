"""TeamsProvisioner for local mode: the demo tenant's ``team`` is the Agents Playground's mock team.

"Creating" the team hands back that team; its channel already exists in the Playground. The
saga then waits, as in a real tenant, until the Playground installs the bot in the team.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from bot.provisioning.ports import ChannelInfo, OperationState, TeamCreation, TeamInfo


class LocalTeamsProvisioner:
    def __init__(self, demo_tenant: dict[str, Any]) -> None:
        team = demo_tenant.get("team") or {}
        channel = team.get("channel") or (team.get("channels") or [{}])[0]
        self._tenant_id = str(demo_tenant.get("tenantId", ""))
        self._team = TeamInfo(
            id=str(team.get("aadGroupId", "")),
            name=str(team.get("name", "")),
            thread_id=str(team.get("id", "")),
            visibility="Private",
        )
        self._channel = ChannelInfo(
            id=str(channel.get("id", "")), name=str(channel.get("name", ""))
        )
        self._created = False
        self._installed = False

    async def find_team(self, name: str) -> TeamInfo | None:
        if self._created and name.casefold() == self._team.name.casefold():
            return self._team
        return None

    async def get_team(self, team_id: str) -> TeamInfo | None:
        return self._team if team_id.lower() == self._team.id.lower() else None

    async def get_group(self, group_id: str) -> TeamInfo | None:
        return await self.get_team(group_id)

    async def create_team(self, name: str, description: str, owner_id: str) -> TeamCreation:
        self._created = True
        return TeamCreation(team_id=self._team.id, operation="", thread_id=self._team.thread_id)

    async def create_team_from_group(self, group_id: str) -> TeamCreation:
        return await self.create_team(self._team.name, "", "")

    async def operation(self, location: str) -> OperationState:
        return OperationState(status="succeeded", team_id=self._team.id)

    async def unarchive_team(self, team_id: str) -> str:
        return ""

    async def find_channel(self, team_id: str, name: str) -> ChannelInfo | None:
        if await self.get_team(team_id) and name.casefold() == self._channel.name.casefold():
            return self._channel
        return None

    async def get_channel(self, team_id: str, channel_id: str) -> ChannelInfo | None:
        if await self.get_team(team_id) and channel_id == self._channel.id:
            return self._channel
        return None

    async def create_channel(self, team_id: str, name: str, description: str) -> ChannelInfo:
        return self._channel

    async def unarchive_channel(self, team_id: str, channel_id: str) -> str:
        return ""

    async def app_installed(self, team_id: str) -> bool:
        return self._installed

    async def install_app(self, team_id: str) -> None:
        self._installed = True

    def channel_link(self, team: TeamInfo | None, channel: ChannelInfo) -> str:
        return (
            f"https://teams.microsoft.com/l/channel/{quote(channel.id, safe='')}/"
            f"{quote(channel.name, safe='')}?groupId={self._team.id}&tenantId={self._tenant_id}"
        )
