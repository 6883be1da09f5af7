"""TeamsProvisioner on Microsoft Graph: teams, channels, app installation, async operations.

Installing the app: the manifest asks for resource-specific consent (RSC) permissions, and Graph
installs such an app only with ``TeamsAppInstallation.ReadWriteAndConsentSelfForTeam.All`` (the
Graph app is the bot's own app registration) or ``...AndConsentForTeam.All`` (a separate
one), and a ``consentedPermissionSet`` naming the RSC permissions being consented. They come
from the manifest (:func:`bot.teamsapp.rsc_permissions`), the one place they are listed.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from bot.graph.errors import GraphBadRequest, GraphForbidden, GraphNotFound
from bot.graph.http import ApiClient, ApiResponse
from bot.provisioning.ports import (
    ChannelInfo,
    OperationState,
    OperationStatus,
    TeamCreation,
    TeamInfo,
)
from bot.teamsapp import RscPermission, rsc_permissions

INSTALL_SELF = "TeamsAppInstallation.ReadWriteAndConsentSelfForTeam.All"
"""Install (with RSC consent) the Graph app's own Teams app: the bot's app registration."""
INSTALL_ANY = "TeamsAppInstallation.ReadWriteAndConsentForTeam.All"
"""Install (with RSC consent) any Teams app: a Graph app registration other than the bot's."""

_KEY = re.compile(r"teams\('([^']+)'\)|teams/([0-9a-fA-F-]{36})")
_STATUSES: dict[str, OperationStatus] = {
    "notstarted": "notStarted",
    "inprogress": "inProgress",
    "succeeded": "succeeded",
    "failed": "failed",
}


def odata_string(value: str) -> str:
    """A string literal for ``$filter``: single quotes are doubled."""
    return "'" + value.replace("'", "''") + "'"


def _group_info(group: dict[str, Any]) -> TeamInfo:
    options = group.get("resourceProvisioningOptions") or []
    return TeamInfo(
        id=str(group.get("id", "")),
        name=str(group.get("displayName", "")),
        provisioned="Team" in options,
        visibility=str(group.get("visibility") or ""),
    )


def _creation(response: ApiResponse) -> TeamCreation:
    """A 202 to ``POST /teams``: the team id from ``Content-Location`` (or ``Location``), and
    the operation to poll."""
    location = response.headers.get("Location", "")
    content_location = response.headers.get("Content-Location", "")
    team_id = team_id_from(content_location) or team_id_from(location)
    if not team_id and isinstance(response.body, dict):
        team_id = str(response.body.get("id") or "")
    return TeamCreation(team_id=team_id, operation=location)


def consented_permission_set(permissions: tuple[RscPermission, ...]) -> dict[str, Any]:
    """The ``teamsAppPermissionSet`` of an install: every RSC permission the manifest asks for."""
    return {
        "resourceSpecificPermissions": [
            {"permissionValue": p.name, "permissionType": p.type} for p in permissions
        ]
    }


def team_id_from(location: str) -> str:
    """The team id in a ``/teams('{id}')/operations('{op}')`` location, or ""."""
    found = _KEY.search(location)
    if not found:
        return ""
    return found.group(1) or found.group(2) or ""


class GraphTeamsProvisioner:
    """Creates the team, its channel and the app installation with application permissions."""

    def __init__(
        self,
        graph: ApiClient,
        *,
        catalog_app_id: str,
        tenant_id: str,
        self_install: bool = True,
        rsc: tuple[RscPermission, ...] | None = None,
    ) -> None:
        """``self_install``: the Graph app registration is the bot's own (``GRAPH_CLIENT_ID`` is
        ``MicrosoftAppId``), so it installs itself. ``rsc``: the RSC permissions to consent to,
        read from the manifest unless given."""
        self._graph = graph
        self._catalog_app_id = catalog_app_id
        self._tenant_id = tenant_id
        self._rsc = rsc_permissions() if rsc is None else rsc
        self.install_permission = INSTALL_SELF if self_install else INSTALL_ANY

    @staticmethod
    def _seg(value: str) -> str:
        return quote(value, safe="")

    async def find_team(self, name: str) -> TeamInfo | None:
        """The group with this name, best first: a private team, a private group whose team
        is still being created, then anything else (which the saga won't take over)."""
        best: TeamInfo | None = None
        async for group in self._graph.pages(
            "groups",
            params={
                "$filter": f"displayName eq {odata_string(name)}",
                "$select": "id,displayName,visibility,resourceProvisioningOptions",
            },
            limit=50,
        ):
            info = _group_info(group)
            if info.private and info.provisioned:
                return info
            if best is None or (info.private and not best.private):
                best = info
        return best

    async def get_group(self, group_id: str) -> TeamInfo | None:
        try:
            group = await self._graph.get(
                f"groups/{self._seg(group_id)}",
                params={"$select": "id,displayName,visibility,resourceProvisioningOptions"},
            )
        except (GraphNotFound, GraphBadRequest):
            return None
        return _group_info(group)

    async def get_team(self, team_id: str) -> TeamInfo | None:
        try:
            team = await self._graph.get(
                f"teams/{self._seg(team_id)}",
                params={"$select": "id,displayName,isArchived,internalId,webUrl"},
            )
        except (GraphNotFound, GraphBadRequest):
            return None
        return TeamInfo(
            id=str(team.get("id") or team_id),
            name=str(team.get("displayName") or ""),
            archived=bool(team.get("isArchived")),
        )

    async def create_team(self, name: str, description: str, owner_id: str) -> TeamCreation:
        root = self._graph.base_url
        response = await self._graph.request(
            "POST",
            "teams",
            json={
                "template@odata.bind": f"{root}/teamsTemplates('standard')",
                "displayName": name,
                "description": description,
                "visibility": "Private",
                "members": [
                    {
                        "@odata.type": "#microsoft.graph.aadUserConversationMember",
                        "roles": ["owner"],
                        "user@odata.bind": f"{root}/users('{self._seg(owner_id)}')",
                    }
                ],
            },
            creates=True,
        )
        return _creation(response)

    async def create_team_from_group(self, group_id: str) -> TeamCreation:
        """``POST /teams`` with ``group@odata.bind`` ("Create a team from group" in Create team):
        the same 202 and ``teamsAsyncOperation`` as a new team, with the Team.Create permission
        (``PUT /groups/{id}/team``, the older way, needs Group.ReadWrite.All)."""
        root = self._graph.base_url
        response = await self._graph.request(
            "POST",
            "teams",
            json={
                "template@odata.bind": f"{root}/teamsTemplates('standard')",
                "group@odata.bind": f"{root}/groups('{self._seg(group_id)}')",
            },
            creates=True,
        )
        creation = _creation(response)
        return TeamCreation(team_id=creation.team_id or group_id, operation=creation.operation)

    async def operation(self, location: str) -> OperationState:
        body = await self._graph.get(location)
        status = _STATUSES.get(str(body.get("status", "")).lower(), "inProgress")
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        assert isinstance(error, dict)
        return OperationState(
            status=status,
            team_id=str(body.get("targetResourceId") or ""),
            error_code=str(error.get("code") or "")[:128],
            error_message=str(error.get("message") or "")[:1000],
        )

    async def unarchive_team(self, team_id: str) -> str:
        response = await self._graph.request("POST", f"teams/{self._seg(team_id)}/unarchive")
        return response.headers.get("Location", "")

    def _channel(self, body: dict[str, Any]) -> ChannelInfo:
        return ChannelInfo(
            id=str(body.get("id", "")),
            name=str(body.get("displayName", "")),
            web_url=str(body.get("webUrl") or ""),
            archived=bool(body.get("isArchived")),
        )

    async def find_channel(self, team_id: str, name: str) -> ChannelInfo | None:
        async for channel in self._graph.pages(
            f"teams/{self._seg(team_id)}/channels",
            params={
                "$filter": f"displayName eq {odata_string(name)}",
                "$select": "id,displayName,webUrl,membershipType,isArchived",
            },
        ):
            if str(channel.get("displayName", "")).casefold() == name.casefold():
                return self._channel(channel)
        return None

    async def get_channel(self, team_id: str, channel_id: str) -> ChannelInfo | None:
        try:
            body = await self._graph.get(
                f"teams/{self._seg(team_id)}/channels/{self._seg(channel_id)}",
                params={"$select": "id,displayName,webUrl,membershipType,isArchived"},
            )
        except (GraphNotFound, GraphBadRequest):
            return None
        return self._channel(body)

    async def create_channel(self, team_id: str, name: str, description: str) -> ChannelInfo:
        response = await self._graph.request(
            "POST",
            f"teams/{self._seg(team_id)}/channels",
            json={"displayName": name, "description": description, "membershipType": "standard"},
            creates=True,
        )
        return self._channel(response.json())

    async def unarchive_channel(self, team_id: str, channel_id: str) -> str:
        response = await self._graph.request(
            "POST", f"teams/{self._seg(team_id)}/channels/{self._seg(channel_id)}/unarchive"
        )
        return response.headers.get("Location", "")

    async def app_installed(self, team_id: str) -> bool:
        async for _ in self._graph.pages(
            f"teams/{self._seg(team_id)}/installedApps",
            params={
                "$expand": "teamsApp",
                "$filter": f"teamsApp/id eq {odata_string(self._catalog_app_id)}",
            },
            limit=1,
        ):
            return True
        return False

    def install_body(self) -> dict[str, Any]:
        """``POST /teams/{id}/installedApps``: the catalog app, and the RSC consent it needs."""
        body: dict[str, Any] = {
            "teamsApp@odata.bind": (
                f"{self._graph.base_url}/appCatalogs/teamsApps/{self._seg(self._catalog_app_id)}"
            )
        }
        if self._rsc:
            body["consentedPermissionSet"] = consented_permission_set(self._rsc)
        return body

    async def install_app(self, team_id: str) -> None:
        try:
            await self._graph.request(
                "POST",
                f"teams/{self._seg(team_id)}/installedApps",
                json=self.install_body(),
                creates=True,
            )
        except GraphForbidden as exc:
            # Graph lists every permission that installs an app, including those that can't
            # consent to RSC permissions: name the one that can.
            if self._rsc:
                exc.permissions = (self.install_permission,)
            raise

    def channel_link(self, team: TeamInfo | None, channel: ChannelInfo) -> str:
        if channel.web_url:
            return channel.web_url
        group = team.id if team else ""
        return (
            f"https://teams.microsoft.com/l/channel/{quote(channel.id, safe='')}/"
            f"{quote(channel.name, safe='')}?groupId={group}&tenantId={self._tenant_id}"
        )
