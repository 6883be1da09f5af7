"""A Microsoft Graph v1.0 stand-in: the endpoints the bot calls, as Microsoft documents them.

* Directory: users, groups, ``$search`` (400 without ``ConsistencyLevel: eventual``), simple
  ``$filter``, OData casts on ``transitiveMemberOf``/``transitiveMembers`` (which also need the
  header and ``$count``), ``$top`` and ``@odata.nextLink`` paging.
* Teams: ``POST /teams`` answers 202 with ``Location: /teams('{id}')/operations('{op}')`` and
  ``Content-Location: /teams('{id}')``; the group exists at once, and the team once its
  ``teamsAsyncOperation`` has moved through notStarted, inProgress and succeeded (one state per
  poll). With ``group@odata.bind`` it makes an existing group (with an owner, without a team) a
  team the same way. Channels, ``installedApps``, archive state and unarchive (202 + operation).
* Directory lag (``listing_lag``): a new team's group can be missing from ``GET /groups``
  listings for a while, as Microsoft Entra ID is eventually consistent.
* App installation (``POST /teams/{id}/installedApps``, 200): an app whose package asks for
  resource-specific consent (``rsc``, read from the manifest for the bot's app) installs only
  with a ``consentedPermissionSet`` naming exactly those permissions and a token holding
  ``TeamsAppInstallation.ReadWriteAndConsent(Self)ForTeam.All`` (``...SelfForTeam`` only for
  the caller's own app, ``self_apps``); otherwise 403, as Graph's "Add app to team" says.
* ``POST /users/{id}/sendMail`` answers 202.
* Permissions: each endpoint accepts the application permissions its page lists; a missing one
  answers 403 ``Missing role permissions on the request. API requires one of '…'``. Users need
  ``User.Read.All`` (or ``Directory.Read.All``). ``transitiveMemberOf`` casts to directory roles
  without ``RoleManagement.Read.Directory`` answer 200 with limited objects (``id`` and
  ``@odata.type``, ``roleTemplateId`` null), as Graph does for objects the app may not read.
* Unlicensed owners (``unlicensed``): ``POST /teams`` fails at once with Graph's 403
  ``...GetApplicableSkuCategoriesForUserFailed`` (``unlicensed_mode="refused"``), or its
  operation fails later (``"operation"``).
* More routes (readiness signals, ...) mount from other modules with :meth:`GraphStandIn.mount`.
* Faults (:class:`tests.standins.base.StandIn`): 429 with ``Retry-After``, 5xx, 403.
"""

from __future__ import annotations

import base64
import itertools
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from bot.teamsapp import rsc_permissions
from tests.standins.base import StandIn, error
from tests.standins.login import LoginStandIn

ROOT = "/v1.0"
INSTALL_SELF = "TeamsAppInstallation.ReadWriteAndConsentSelfForTeam.All"
INSTALL_ANY = "TeamsAppInstallation.ReadWriteAndConsentForTeam.All"
ROLES_READ = ("RoleManagement.Read.Directory", "Directory.Read.All")
RouteHandler = Callable[[web.Request, "re.Match[str]"], Awaitable[web.StreamResponse]]

# The application permissions each endpoint accepts (from its Microsoft Graph page).
PERMISSIONS: dict[str, tuple[str, ...]] = {
    "users.read": ("User.Read.All", "Directory.Read.All"),
    "groups.read": ("GroupMember.Read.All", "Group.Read.All", "Directory.Read.All"),
    "teams.create": ("Team.Create", "Teamwork.Migrate.All", "Group.ReadWrite.All"),
    "teams.read": ("Team.ReadBasic.All", "TeamSettings.Read.All", "Group.Read.All"),
    "teams.unarchive": ("TeamSettings.ReadWrite.All", "Group.ReadWrite.All"),
    "channels.read": ("Channel.ReadBasic.All", "ChannelSettings.Read.All", "Group.Read.All"),
    "channels.create": ("Channel.Create", "Teamwork.Migrate.All", "Group.ReadWrite.All"),
    "channels.unarchive": ("ChannelSettings.ReadWrite.All",),
    "apps.read": (
        "TeamsAppInstallation.ReadSelfForTeam.All",
        "TeamsAppInstallation.ReadForTeam.All",
        "TeamsAppInstallation.ReadWriteSelfForTeam.All",
        "TeamsAppInstallation.ReadWriteForTeam.All",
        INSTALL_SELF,
        INSTALL_ANY,
    ),
    "apps.install": (
        "TeamsAppInstallation.ReadWriteSelfForTeam.All",
        "TeamsAppInstallation.ReadWriteForTeam.All",
        INSTALL_SELF,
        INSTALL_ANY,
    ),
    "mail.send": ("Mail.Send",),
    "skus.read": ("Organization.Read.All", "Directory.Read.All"),
}
DEFAULT_GRANTED = frozenset(
    {
        "User.Read.All",
        "GroupMember.Read.All",
        "RoleManagement.Read.Directory",
        "Team.Create",
        "Team.ReadBasic.All",
        "Channel.ReadBasic.All",
        "Channel.Create",
        "ChannelSettings.ReadWrite.All",
        "TeamSettings.ReadWrite.All",
        INSTALL_SELF,
        "Mail.Send",
        "Organization.Read.All",
    }
)

_SEARCH = re.compile(r'"(\w+):((?:[^"\\]|\\.)*)"')
_CLAUSE = re.compile(r"^\s*([\w/]+)\s+eq\s+(true|false|'(?:[^']|'')*')\s*$")
_KEY = re.compile(r"^(\w+)\('([^']+)'\)$")
OPERATION_STEPS = ("notStarted", "inProgress", "succeeded")


def _thread_id() -> str:
    return f"19:{uuid.uuid4().hex}@thread.tacv2"


@dataclass
class Team:
    group_id: str
    thread_id: str
    archived: bool = False
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    apps: dict[str, str] = field(default_factory=dict)


@dataclass
class Operation:
    id: str
    team_id: str
    steps: tuple[str, ...]
    kind: str = "createTeam"
    at: int = -1
    error: dict[str, str] | None = None

    @property
    def status(self) -> str:
        return self.steps[max(self.at, 0)]

    def advance(self) -> None:
        self.at = min(self.at + 1, len(self.steps) - 1)


@dataclass
class GraphStandIn(StandIn):
    login: LoginStandIn | None = None
    tenant_id: str = ""
    granted: set[str] = field(default_factory=lambda: set(DEFAULT_GRANTED))
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    roles: dict[str, set[str]] = field(default_factory=dict)
    teams: dict[str, Team] = field(default_factory=dict)
    operations: dict[str, Operation] = field(default_factory=dict)
    catalog: set[str] = field(default_factory=set)
    rsc: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    """The RSC permissions (value, type) each catalog app's package asks for."""
    self_apps: set[str] = field(default_factory=set)
    """Catalog apps that are the caller's own (``...SelfForTeam`` permissions cover them)."""
    mails: list[dict[str, Any]] = field(default_factory=list)
    skus: list[dict[str, Any]] = field(default_factory=list)
    unlicensed: set[str] = field(default_factory=set)
    unlicensed_mode: str = "operation"  # "operation" (fails later) | "refused" (403 at once)
    group_creation: str = "enabled"  # "enabled" | "refused" (403) | "operation" (fails later)
    app_blocked: bool = False
    operation_steps: tuple[str, ...] = OPERATION_STEPS
    page_size: int = 100
    reserve_deleted_names: bool = False
    listing_lag: int = 0
    """Directory lag: a group made by ``POST /teams`` is left out of this many ``GET /groups``
    listings (``GET /groups/{id}`` finds it at once)."""
    unlisted: dict[str, int] = field(default_factory=dict)
    teams_created: int = 0
    """``POST /teams`` that made a new group; ``teams_from_groups`` made an existing one a team."""
    teams_from_groups: int = 0
    channels_created: int = 0
    apps_installed: int = 0
    mounted: list[tuple[str, re.Pattern[str], RouteHandler]] = field(default_factory=list)
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # ---- set-up helpers ------------------------------------------------------------------

    def add_catalog_app(self, app_id: str, *, own: bool = True) -> None:
        """The bot's app in the org catalog, asking for the RSC permissions of its manifest."""
        self.catalog.add(app_id)
        self.rsc[app_id] = tuple((p.name, p.type) for p in rsc_permissions())
        if own:
            self.self_apps.add(app_id)

    def mount(self, method: str, pattern: str, handler: RouteHandler) -> None:
        """Serve more Graph routes (from another stand-in module): ``pattern`` is a regular
        expression matched against the whole path after ``/v1.0/``; authentication, faults
        and the call log apply as for every other route. Check permissions with
        :meth:`needs`."""
        self.mounted.append((method.upper(), re.compile(pattern), handler))

    def add_user(
        self, user_id: str, name: str, mail: str, *, roles: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        user = {
            "id": user_id,
            "displayName": name,
            "mail": mail,
            "userPrincipalName": mail,
            "accountEnabled": True,
        }
        self.users[user_id] = user
        self.roles[user_id] = set(roles)
        return user

    def add_group(
        self,
        group_id: str,
        name: str,
        *,
        mail: str = "",
        security: bool = True,
        members: tuple[str, ...] = (),
        unified: bool = False,
        role_assignable: bool = False,
        visibility: str | None = None,
    ) -> dict[str, Any]:
        group = {
            "id": group_id,
            "displayName": name,
            "mail": mail or None,
            "mailEnabled": bool(mail),
            "securityEnabled": security,
            "groupTypes": ["Unified"] if unified else [],
            "resourceProvisioningOptions": [],
            "isAssignableToRole": role_assignable,
            "visibility": visibility,
            "members": set(members),
        }
        self.groups[group_id] = group
        return group

    def assign_role(self, principal_id: str, role_template_id: str) -> None:
        """Assign a directory role to a user, or to a role-assignable group (its members hold
        it transitively, as ``transitiveMemberOf`` shows)."""
        group = self.groups.get(principal_id)
        if group is not None and not group.get("isAssignableToRole"):
            raise ValueError("only a group created with isAssignableToRole can hold a role")
        self.roles.setdefault(principal_id, set()).add(role_template_id)

    def add_team(self, name: str, *, visibility: str) -> Team:
        """A team that exists before the bot runs (someone else's, or one it lost track of)."""
        group_id = str(uuid.uuid4())
        self.add_group(group_id, name, security=False, unified=True, visibility=visibility)
        self.groups[group_id].update(
            mail=f"team{next(self._counter)}@contoso.com",
            mailEnabled=True,
            resourceProvisioningOptions=["Team"],
        )
        team = Team(group_id, _thread_id())
        team.channels[team.thread_id] = self._channel_json(team, team.thread_id, "General")
        self.teams[group_id] = team
        return team

    def groups_named(self, name: str) -> list[dict[str, Any]]:
        return [g for g in self.groups.values() if g["displayName"] == name]

    def team_named(self, name: str) -> list[Team]:
        return [t for t in self.teams.values() if self.groups[t.group_id]["displayName"] == name]

    def channels_named(self, team: Team, name: str) -> list[dict[str, Any]]:
        return [
            c for c in team.channels.values() if c["displayName"] == name and not c.get("deleted")
        ]

    # ---- the application -----------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.middleware, self._auth])
        app.router.add_route("*", ROOT + "/{tail:.*}", self._route)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else ""
        expected = f"{request.scheme}://{request.host}"
        audience = self.login.audience_of(token) if self.login and token else None
        if audience != expected:
            return error(
                401,
                "InvalidAuthenticationToken",
                "Access token validation failure. Invalid audience."
                if token
                else "Access token is empty.",
            )
        response: web.StreamResponse = await handler(request)
        return response

    def needs(self, *accepted: str) -> web.Response | None:
        """403 as Graph words it unless one of the ``accepted`` permissions is granted."""
        if self.granted & set(accepted):
            return None
        return error(
            403,
            "Forbidden",
            f"Missing role permissions on the request. API requires one of "
            f"'{', '.join(accepted)}'. Roles on the request '{', '.join(sorted(self.granted))}'.",
        )

    def _needs(self, key: str) -> web.Response | None:
        return self.needs(*PERMISSIONS[key])

    async def _route(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info["tail"]
        for method, pattern, handler in self.mounted:
            found = pattern.fullmatch(tail)
            if found and method in (request.method, "*"):
                return await handler(request, found)
        parts = [p for p in tail.split("/") if p]
        # teams('x')/operations('y') → teams/x/operations/y
        flat: list[str] = []
        for part in parts:
            keyed = _KEY.match(part)
            flat.extend([keyed.group(1), keyed.group(2)] if keyed else [part])
        method = request.method
        match (method, flat):
            case ("GET", ["users", user_id, "transitiveMemberOf", "microsoft.graph.directoryRole"]):
                return await self._user_roles(request, user_id)
            case ("GET", ["users", user_id, "transitiveMemberOf", "microsoft.graph.group"]):
                return await self._user_groups(request, user_id)
            case ("GET", ["users"]):
                return await self._list(request, "users.read", list(self.users.values()))
            case ("GET", ["users", user_id]):
                return self._get_object(request, "users.read", self._user(user_id))
            case ("POST", ["users", user_id, "sendMail"]):
                return await self._send_mail(request, user_id)
            case ("GET", ["groups"]):
                return await self._list(request, "groups.read", self._listed_groups())
            case ("GET", ["groups", group_id]):
                return self._get_object(request, "groups.read", self.groups.get(group_id))
            case ("GET", ["groups", group_id, "transitiveMembers", "microsoft.graph.user"]):
                return await self._group_members(request, group_id)
            case ("POST", ["teams"]):
                return await self._create_team(request)
            case ("GET", ["teams", team_id, "operations", op_id]):
                return self._operation(request, team_id, op_id)
            case ("GET", ["teams", team_id]):
                return self._get_team(team_id)
            case ("POST", ["teams", team_id, "unarchive"]):
                return self._unarchive_team(team_id)
            case ("GET", ["teams", team_id, "channels"]):
                return await self._list_channels(request, team_id)
            case ("POST", ["teams", team_id, "channels"]):
                return await self._create_channel(request, team_id)
            case ("GET", ["teams", team_id, "channels", channel_id]):
                return self._get_channel(team_id, channel_id)
            case ("POST", ["teams", team_id, "channels", channel_id, "unarchive"]):
                return self._unarchive_channel(team_id, channel_id)
            case ("GET", ["teams", team_id, "installedApps"]):
                return await self._list_apps(request, team_id)
            case ("POST", ["teams", team_id, "installedApps"]):
                return await self._install_app(request, team_id)
            case ("GET", ["subscribedSkus"]):
                return self._needs("skus.read") or web.json_response({"value": self.skus})
        return error(400, "BadRequest", f"Resource not found for the segment '{parts[0]}'.")

    # ---- directory -------------------------------------------------------------------------

    def _listed_groups(self) -> list[dict[str, Any]]:
        """The groups a listing shows: new ones only once the directory has caught up."""
        shown = [g for g in self.groups.values() if self.unlisted.get(g["id"], 0) <= 0]
        for group_id in list(self.unlisted):
            self.unlisted[group_id] -= 1
            if self.unlisted[group_id] <= 0:
                del self.unlisted[group_id]
        return shown

    def _user(self, key: str) -> dict[str, Any] | None:
        found = self.users.get(key)
        if found is None:
            found = next(
                (u for u in self.users.values() if u["userPrincipalName"].lower() == key.lower()),
                None,
            )
        return found

    @staticmethod
    def _advanced(request: web.Request, *, cast: bool) -> web.Response | None:
        query = request.query
        needs = "$search" in query or "$orderby" in query or cast
        if not needs:
            return None
        if request.headers.get("ConsistencyLevel", "").lower() != "eventual":
            return error(
                400,
                "Request_UnsupportedQuery",
                "Request with $search query parameter only works through MSGraph with a special "
                "request header: 'ConsistencyLevel: eventual'",
            )
        if cast and query.get("$count") != "true":
            return error(
                400,
                "Request_UnsupportedQuery",
                "The specified filter to the reference property query is currently not "
                "supported without $count=true and 'ConsistencyLevel: eventual'.",
            )
        return None

    def _get_object(
        self, request: web.Request, permission: str, obj: dict[str, Any] | None
    ) -> web.Response:
        refused = self._needs(permission)
        if refused:
            return refused
        if obj is None:
            return error(
                404,
                "Request_ResourceNotFound",
                f"Resource '{request.path.rsplit('/', 1)[-1]}' does not exist or one of its "
                "queried reference-property objects are not present.",
            )
        return web.json_response(_select(_public(obj), request.query.get("$select")))

    async def _list(
        self,
        request: web.Request,
        permission: str,
        items: list[dict[str, Any]],
        *,
        cast: bool = False,
    ) -> web.Response:
        refused = self._needs(permission) or self._advanced(request, cast=cast)
        if refused:
            return refused
        query = request.query
        try:
            keep = _filter(query.get("$filter", ""))
        except ValueError as exc:
            return error(400, "Request_UnsupportedQuery", str(exc))
        search = query.get("$search", "")
        if search and not search.startswith('"'):
            return error(
                400,
                "Request_UnsupportedQuery",
                "Syntax error: the $search value must be in double quotes.",
            )
        matches = [i for i in items if keep(i) and _searched(i, search)]
        if "$orderby" in query:
            matches.sort(key=lambda i: str(i.get("displayName", "")).lower())
        return self._page(request, matches)

    def _page(self, request: web.Request, items: list[dict[str, Any]]) -> web.Response:
        query = dict(request.query)
        top = int(query.get("$top", self.page_size))
        if not 1 <= top <= 999:
            return error(400, "Request_BadRequest", f"Invalid page size specified: '{top}'.")
        start = (
            int(base64.b64decode(query.pop("$skiptoken")).decode()) if "$skiptoken" in query else 0
        )
        chunk = items[start : start + top]
        body: dict[str, Any] = {
            "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#{request.path}",
            "value": [_select(_public(i), query.get("$select")) for i in chunk],
        }
        if query.get("$count") == "true":
            body["@odata.count"] = len(items)
        if start + top < len(items):
            query["$skiptoken"] = base64.b64encode(str(start + top).encode()).decode()
            link = urlencode(query, quote_via=quote)
            body["@odata.nextLink"] = f"{request.scheme}://{request.host}{request.path}?{link}"
        return web.json_response(body)

    async def _user_roles(self, request: web.Request, user_id: str) -> web.Response:
        refused = self._needs("users.read")
        if refused:
            return refused
        if user_id not in self.users:
            return error(404, "Request_ResourceNotFound", f"Resource '{user_id}' does not exist.")
        # Roles assigned to the user, and to the role-assignable groups it is a member of.
        held = set(self.roles.get(user_id, set()))
        for group_id, group_roles in self.roles.items():
            if group_id in self.groups and user_id in self._transitive(group_id):
                held |= group_roles
        readable = bool(self.granted & set(ROLES_READ))
        roles = [
            {
                "@odata.type": "#microsoft.graph.directoryRole",
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, t)),
                # Without a permission to read roles, Graph returns limited objects.
                "roleTemplateId": t if readable else None,
                "displayName": None,
            }
            for t in sorted(held)
        ]
        return await self._list(request, "users.read", roles, cast=True)

    async def _user_groups(self, request: web.Request, user_id: str) -> web.Response:
        if user_id not in self.users:
            return error(404, "Request_ResourceNotFound", f"Resource '{user_id}' does not exist.")
        groups = [g for g in self.groups.values() if user_id in self._transitive(g["id"])]
        return await self._list(request, "groups.read", groups, cast=True)

    def _transitive(self, group_id: str, seen: frozenset[str] = frozenset()) -> set[str]:
        group = self.groups.get(group_id)
        if group is None or group_id in seen:
            return set()
        found: set[str] = set()
        for member in group["members"]:
            if member in self.groups:
                found |= self._transitive(member, seen | {group_id})
            else:
                found.add(member)
        return found

    async def _group_members(self, request: web.Request, group_id: str) -> web.Response:
        if group_id not in self.groups:
            return error(404, "Request_ResourceNotFound", f"Resource '{group_id}' does not exist.")
        users = [self.users[u] for u in sorted(self._transitive(group_id)) if u in self.users]
        return await self._list(request, "groups.read", users, cast=True)

    async def _send_mail(self, request: web.Request, user_id: str) -> web.Response:
        refused = self._needs("mail.send")
        if refused:
            return refused
        sender = self._user(user_id)
        if sender is None:
            return error(404, "ErrorInvalidUser", f"The requested user '{user_id}' is invalid.")
        body = await request.json()
        message = body.get("message") or {}
        if not message.get("toRecipients"):
            return error(400, "ErrorInvalidRecipients", "At least one recipient is not valid.")
        self.mails.append({"from": sender["mail"], **body})
        return web.Response(status=202)

    # ---- teams -----------------------------------------------------------------------------

    async def _create_team(self, request: web.Request) -> web.Response:
        refused = self._needs("teams.create")
        if refused:
            return refused
        body = await request.json()
        template = str(body.get("template@odata.bind", ""))
        if not template.endswith("teamsTemplates('standard')"):
            return error(400, "BadRequest", "Invalid bind property name template in request.")
        if "group@odata.bind" in body:
            return self._team_from_group(body)
        owners = [
            m
            for m in body.get("members") or []
            if "owner" in (m.get("roles") or [])
            and m.get("@odata.type") == "#microsoft.graph.aadUserConversationMember"
        ]
        if not owners:
            return error(
                400,
                "BadRequest",
                "An owner must be specified when creating a team with application permissions.",
            )
        owner_bind = str(owners[0].get("user@odata.bind", ""))
        owner = re.search(r"users\('([^']+)'\)", owner_bind)
        if owner is None or self._user(owner.group(1)) is None:
            return error(404, "NotFound", "The owner of the team could not be found.")
        owner_found = self._user(owner.group(1))
        refused = self._refuse_unlicensed({str(owner_found["id"])} if owner_found else set())
        if refused:
            return refused
        if self.group_creation == "refused":
            return error(
                403,
                "Forbidden",
                "Failed to execute Templates backend request CreateTeamFromTemplateRequest. "
                "Response Status Code: Forbidden, ErrorMessage: Group creation is disabled "
                "for this user (EnableGroupCreation is false).",
            )
        group_id = str(uuid.uuid4())
        self.add_group(
            group_id,
            str(body.get("displayName", "")),
            security=False,
            unified=True,
            visibility=str(body.get("visibility") or "Public"),
        )
        self.groups[group_id]["mail"] = f"team{next(self._counter)}@contoso.com"
        self.groups[group_id]["mailEnabled"] = True
        if self.listing_lag:
            self.unlisted[group_id] = self.listing_lag
        self.teams_created += 1
        operation = Operation(str(uuid.uuid4()), group_id, self.operation_steps)
        owner_id = str(self._user(owner.group(1))["id"])  # type: ignore[index]
        self.groups[group_id]["owners"] = {owner_id}
        if self.group_creation == "operation":
            operation.steps = ("notStarted", "failed")
            operation.error = {
                "code": "Forbidden",
                "message": "Group creation is disabled in this tenant (EnableGroupCreation).",
            }
        elif owner_id in self.unlicensed:
            _fail_unlicensed(operation, owner_id)
        return self._accepted(group_id, operation)

    def _refuse_unlicensed(self, owners: set[str]) -> web.Response | None:
        """Graph's answer at once when the owner has no Teams license (public reports)."""
        if self.unlicensed_mode != "refused" or not owners & self.unlicensed:
            return None
        return error(
            403,
            "Forbidden",
            "Failed to execute Templates backend request CreateTeamFromTemplateRequest. Request "
            "Url: https://teams.microsoft.com/fabric/emea/templates/api/team, Request Method: "
            'POST, Response Status Code: Forbidden, ErrorMessage : {"errors":[{"message":'
            '"Failed to execute GetApplicableSkuCategoriesForUser.","errorCode":'
            '"GetApplicableSkuCategoriesForUserFailed"}],"operationId":"'
            + str(uuid.uuid4())
            + '"}',
        )

    def _team_from_group(self, body: dict[str, Any]) -> web.Response:
        """Create team, "create a team from group": the team takes the group's name, visibility
        and members, so those can't be given; the group needs an owner and no team yet."""
        bind = re.search(r"groups\('([^']+)'\)$", str(body.get("group@odata.bind", "")))
        if bind is None:
            return error(400, "BadRequest", "Invalid bind property name group in request.")
        given = [k for k in ("displayName", "visibility", "members") if k in body]
        if given:
            return error(
                400, "BadRequest", f"'{given[0]}' can't be set when creating a team from a group."
            )
        group = self.groups.get(bind.group(1))
        if group is None:
            return error(404, "NotFound", f"Group '{bind.group(1)}' was not found.")
        group_id = str(group["id"])
        busy = any(
            o.team_id == group_id and o.kind == "createTeam" and o.status not in ("failed",)
            for o in self.operations.values()
        )
        if group_id in self.teams or busy:
            return error(409, "Conflict", "The group already has a team.")
        if not group.get("owners"):
            return error(400, "BadRequest", "The group must have at least one owner.")
        refused = self._refuse_unlicensed(set(group["owners"]))
        if refused:
            return refused
        self.teams_from_groups += 1
        operation = Operation(str(uuid.uuid4()), group_id, self.operation_steps)
        unlicensed = sorted(set(group["owners"]) & self.unlicensed)
        if unlicensed:
            _fail_unlicensed(operation, unlicensed[0])
        return self._accepted(group_id, operation)

    def _accepted(self, group_id: str, operation: Operation) -> web.Response:
        """202 with the teamsAsyncOperation's Location, as POST /teams answers."""
        self.operations[operation.id] = operation
        return web.Response(
            status=202,
            headers={
                "Location": f"/teams('{group_id}')/operations('{operation.id}')",
                "Content-Location": f"/teams('{group_id}')",
            },
        )

    def _tick(self, team_id: str) -> None:
        """Time passes for the team's operations: each look moves them one state on."""
        for operation in self.operations.values():
            if operation.team_id == team_id and operation.status not in ("succeeded", "failed"):
                operation.advance()
                self._settle(operation)

    def _settle(self, operation: Operation) -> None:
        if operation.status != "succeeded":
            return
        if operation.kind == "createTeam" and operation.team_id not in self.teams:
            group = self.groups[operation.team_id]
            group["resourceProvisioningOptions"] = ["Team"]
            team = Team(operation.team_id, _thread_id())
            team.channels[team.thread_id] = self._channel_json(team, team.thread_id, "General")
            self.teams[operation.team_id] = team
        elif operation.kind == "unarchiveTeam":
            self.teams[operation.team_id].archived = False
        elif operation.kind.startswith("unarchiveChannel:"):
            channel = operation.kind.split(":", 1)[1]
            self.teams[operation.team_id].channels[channel]["isArchived"] = False

    def _operation(self, request: web.Request, team_id: str, op_id: str) -> web.Response:
        operation = self.operations.get(op_id)
        if operation is None or operation.team_id != team_id:
            return error(404, "NotFound", "Operation not found.")
        operation.advance()
        self._settle(operation)
        return web.json_response(
            {
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#teams('x')/operations/$entity",
                "id": operation.id,
                "operationType": operation.kind.split(":")[0],
                "createdDateTime": "2026-11-27T09:00:00Z",
                "status": operation.status,
                "lastActionDateTime": "2026-11-27T09:00:30Z",
                "attemptsCount": 1,
                "targetResourceId": operation.team_id,
                "targetResourceLocation": f"/teams('{operation.team_id}')",
                "error": operation.error if operation.status == "failed" else None,
            }
        )

    def _team(self, team_id: str) -> Team | None:
        self._tick(team_id)
        return self.teams.get(team_id)

    def _get_team(self, team_id: str) -> web.Response:
        refused = self._needs("teams.read")
        if refused:
            return refused
        team = self._team(team_id)
        if team is None:
            return error(404, "NotFound", "No team found with Group Id " + team_id)
        group = self.groups[team_id]
        return web.json_response(
            {
                "id": team_id,
                "displayName": group["displayName"],
                "isArchived": team.archived,
                "internalId": team.thread_id,
                "visibility": str(group.get("visibility") or "Public").lower(),
                "webUrl": f"https://teams.microsoft.com/l/team/{quote(team.thread_id)}/conversations?groupId={team_id}&tenantId={self.tenant_id}",
            }
        )

    def _unarchive_team(self, team_id: str) -> web.Response:
        refused = self._needs("teams.unarchive")
        if refused:
            return refused
        team = self._team(team_id)
        if team is None:
            return error(404, "NotFound", "No team found with Group Id " + team_id)
        operation = Operation(
            str(uuid.uuid4()), team_id, ("inProgress", "succeeded"), "unarchiveTeam"
        )
        self.operations[operation.id] = operation
        return web.Response(
            status=202, headers={"Location": f"/teams('{team_id}')/operations('{operation.id}')"}
        )

    def _channel_json(self, team: Team, channel_id: str, name: str) -> dict[str, Any]:
        return {
            "id": channel_id,
            "displayName": name,
            "description": None,
            "membershipType": "standard",
            "isArchived": False,
            "webUrl": f"https://teams.microsoft.com/l/channel/{quote(channel_id, safe='')}/"
            f"{quote(name, safe='')}?groupId={team.group_id}&tenantId={self.tenant_id}",
        }

    async def _list_channels(self, request: web.Request, team_id: str) -> web.Response:
        refused = self._needs("channels.read")
        if refused:
            return refused
        team = self._team(team_id)
        if team is None:
            return error(404, "NotFound", "No team found with Group Id " + team_id)
        live = [c for c in team.channels.values() if not c.get("deleted")]
        return await self._list(request, "channels.read", live)

    def _get_channel(self, team_id: str, channel_id: str) -> web.Response:
        refused = self._needs("channels.read")
        if refused:
            return refused
        team = self._team(team_id)
        channel = None if team is None else team.channels.get(channel_id)
        if channel is None or channel.get("deleted"):
            return error(404, "NotFound", "Channel not found.")
        return web.json_response(_public(channel))

    async def _create_channel(self, request: web.Request, team_id: str) -> web.Response:
        refused = self._needs("channels.create")
        if refused:
            return refused
        team = self._team(team_id)
        if team is None:
            return error(404, "NotFound", "No team found with Group Id " + team_id)
        body = await request.json()
        name = str(body.get("displayName", ""))
        if body.get("membershipType", "standard") != "standard":
            return error(400, "BadRequest", "Only standard channels are supported here.")
        taken = [
            c
            for c in team.channels.values()
            if c["displayName"].lower() == name.lower()
            and (not c.get("deleted") or self.reserve_deleted_names)
        ]
        if taken:
            return error(400, "BadRequest", "Channel name already existed, please use other name.")
        channel = self._channel_json(team, _thread_id(), name)
        channel["description"] = body.get("description")
        team.channels[channel["id"]] = channel
        self.channels_created += 1
        return web.json_response(_public(channel), status=201)

    def _unarchive_channel(self, team_id: str, channel_id: str) -> web.Response:
        refused = self._needs("channels.unarchive")
        if refused:
            return refused
        team = self._team(team_id)
        if team is None or channel_id not in team.channels:
            return error(404, "NotFound", "Channel not found.")
        if team.archived:
            return error(400, "BadRequest", "Unarchive the team before its channels.")
        operation = Operation(
            str(uuid.uuid4()),
            team_id,
            ("inProgress", "succeeded"),
            f"unarchiveChannel:{channel_id}",
        )
        self.operations[operation.id] = operation
        return web.Response(
            status=202, headers={"Location": f"/teams('{team_id}')/operations('{operation.id}')"}
        )

    async def _list_apps(self, request: web.Request, team_id: str) -> web.Response:
        refused = self._needs("apps.read")
        if refused:
            return refused
        team = self._team(team_id)
        if team is None:
            return error(404, "NotFound", "No team found with Group Id " + team_id)
        installs = [
            {
                "id": install_id,
                "teamsApp": {
                    "id": app_id,
                    "externalId": None,
                    "displayName": "Defender Experts",
                    "distributionMethod": "organization",
                },
            }
            for install_id, app_id in team.apps.items()
        ]
        return await self._list(request, "apps.read", installs)

    async def _install_app(self, request: web.Request, team_id: str) -> web.Response:
        refused = self._needs("apps.install")
        if refused:
            return refused
        team = self._team(team_id)
        if team is None:
            return error(404, "NotFound", "No team found with Group Id " + team_id)
        body = await request.json()
        bind = str(body.get("teamsApp@odata.bind", ""))
        app_id = bind.rsplit("/", 1)[-1]
        if app_id not in self.catalog:
            return error(404, "NotFound", f"App '{app_id}' was not found in the app catalog.")
        if self.app_blocked:
            return error(
                403,
                "Forbidden",
                "The app is blocked by app permission policy for the team's owners.",
            )
        if app_id in team.apps.values():
            return error(409, "Conflict", "App is already installed in this team.")
        refused = self._refuse_rsc(app_id, body)
        if refused:
            return refused
        team.apps[base64.b64encode(f"{team_id}##{app_id}".encode()).decode()] = app_id
        self.apps_installed += 1
        return web.Response(status=200)

    def _refuse_rsc(self, app_id: str, body: dict[str, Any]) -> web.Response | None:
        """An app that asks for RSC permissions: the ...AndConsent... permission, and consent to
        exactly those permissions in the body, or 403."""
        wanted = set(self.rsc.get(app_id, ()))
        if not wanted:
            return None
        consent = {INSTALL_ANY} | ({INSTALL_SELF} if app_id in self.self_apps else set())
        if not self.granted & consent:
            return error(
                403,
                "Forbidden",
                "Missing role permissions on the request. The app requires resource-specific "
                f"consent; API requires one of '{', '.join(sorted(consent))}'. Roles on the "
                f"request '{', '.join(sorted(self.granted))}'.",
            )
        given = (body.get("consentedPermissionSet") or {}).get("resourceSpecificPermissions")
        consented = {
            (str(p.get("permissionValue")), str(p.get("permissionType")))
            for p in given or []
            if isinstance(p, dict)
        }
        if consented != wanted:
            return error(
                403,
                "Forbidden",
                "The app requires consent to its resource-specific permissions: "
                "consentedPermissionSet must name "
                + ", ".join(f"{v} ({t})" for v, t in sorted(wanted))
                + ".",
            )
        return None

    # ---- test helpers ------------------------------------------------------------------------

    def archive_channel(self, team: Team, channel_id: str) -> None:
        team.channels[channel_id]["isArchived"] = True

    def delete_channel(self, team: Team, channel_id: str) -> None:
        team.channels[channel_id]["deleted"] = True


def _public(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("members", "owners", "deleted")}


def _select(obj: dict[str, Any], select: str | None) -> dict[str, Any]:
    if not select:
        return obj
    keep = {s.strip() for s in select.split(",")} | {"@odata.type"}
    return {k: v for k, v in obj.items() if k in keep}


def _filter(text: str) -> Callable[[dict[str, Any]], bool]:
    if not text.strip():
        return lambda _: True
    clauses = []
    for part in re.split(r"\s+and\s+", text):
        found = _CLAUSE.match(part)
        if found is None:
            raise ValueError(f"Unsupported or invalid query filter clause specified: '{part}'.")
        path, raw = found.group(1), found.group(2)
        value: Any = raw == "true" if raw in ("true", "false") else raw[1:-1].replace("''", "'")
        clauses.append((path.split("/"), value))

    def keep(item: dict[str, Any]) -> bool:
        for path, value in clauses:
            current: Any = item
            for step in path:
                current = current.get(step) if isinstance(current, dict) else None
            if isinstance(value, str) and isinstance(current, str):
                if current.lower() != value.lower():
                    return False
            elif current != value:
                return False
        return True

    return keep


def _searched(item: dict[str, Any], search: str) -> bool:
    if not search:
        return True
    for prop, raw in _SEARCH.findall(search):
        text = raw.replace('\\"', '"').replace("\\\\", "\\").lower()
        value = str(item.get(prop) or "").lower()
        words = re.split(r"[\s@._\-]+", value)
        if value.startswith(text) or any(w.startswith(text) for w in words):
            return True
    return False


def _fail_unlicensed(operation: Operation, owner_id: str) -> None:
    """The operation fails because the owner has no Teams license."""
    operation.steps = ("notStarted", "inProgress", "failed")
    operation.error = {
        "code": "BadRequest",
        "message": f"User '{owner_id}' doesn't have a valid Microsoft Teams license.",
    }
