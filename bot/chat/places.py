"""Places on the stored documents: which Defender Experts post a thread belongs to, and the
incident summaries the console shows. Read only; incidents belong to the notifications
service and the team to provisioning, and this reads only what they publish for others."""

from __future__ import annotations

from typing import Any

from bot.chat.model import Place
from bot.chat.ports import IncidentSummary, TeamRef
from bot.conversations import personal_chat_key
from bot.errors import DependencyError
from bot.notifications.model import SEVERITY_LABELS, STATUS_LABELS, parse_notification
from bot.notifications.ports import SettingsSource
from bot.notifications.render import incident_view
from bot.notifications.service import incident_key, post_key
from bot.provisioning.model import TeamsRecord, teams_key
from bot.storage import Store
from bot.tenant import TenantDirectory

GENERAL_TITLE = "General"


class StoredPlaces:
    def __init__(self, store: Store, directory: TenantDirectory, tenant_name: str = "") -> None:
        self._store = store
        self._directory = directory
        self._tenant_name = tenant_name

    async def _team(self, tenant_id: str) -> TeamsRecord | None:
        item = await self._store.read(teams_key(tenant_id))
        return None if item is None else TeamsRecord.from_json(item.value)

    async def is_our_team(self, tenant_id: str, team: TeamRef) -> bool:
        record = await self._team(tenant_id)
        if record is None:
            return False
        conversation = (record.team_reference.get("conversation") or {}).get("id", "")
        by_thread = bool(team.team_id) and team.team_id in (record.team_thread_id, conversation)
        by_group = bool(team.aad_group_id) and team.aad_group_id.lower() == record.team_id.lower()
        return by_thread or by_group

    async def place_of_thread(self, tenant_id: str, team: TeamRef, root_id: str) -> Place | None:
        index = await self._store.read(post_key(tenant_id, root_id))
        if index is not None:
            incident_id = str(index.value.get("incidentId", ""))
            summary = await self.incident(tenant_id, incident_id)
            if summary is None:
                return None
            return Place(
                kind="incident",
                title=summary.title,
                incident_id=incident_id,
                severity=summary.severity,
                status=summary.status,
            )
        record = await self._team(tenant_id)
        if record is not None and record.welcome_post_id and record.welcome_post_id == root_id:
            return Place(kind="general", title=GENERAL_TITLE)
        return None

    async def incident(self, tenant_id: str, incident_id: str) -> IncidentSummary | None:
        item = await self._store.read(incident_key(tenant_id, incident_id))
        if item is None:
            return None
        doc: dict[str, Any] = item.value
        source = doc.get("shown") or doc.get("latest")
        if not source:
            return None
        n = parse_notification(source["notification"])
        view = incident_view(n, doc)
        ack = doc.get("acknowledged") or {}
        return IncidentSummary(
            incident_id=incident_id,
            title=n.display_name,
            severity=SEVERITY_LABELS.get(n.severity, n.severity),
            status=STATUS_LABELS.get(n.status, n.status),
            summary=n.summary,
            pending_actions=tuple(
                {
                    "id": row.id,
                    "label": row.label,
                    "target": row.target,
                    "state": row.state,
                    "by": row.by or None,
                    "when": row.when or None,
                }
                for row in view.pending
            ),
            acknowledged_by=str((ack.get("by") or {}).get("name") or ""),
            web_url=n.web_url,
        )

    async def tenant_name(self, tenant_id: str) -> str:
        return self._tenant_name or tenant_id

    async def personal_reference(self, tenant_id: str, user_id: str) -> dict[str, Any] | None:
        # Kept by the conversations service for every personal chat.
        item = await self._store.read(personal_chat_key(tenant_id, user_id))
        return None if item is None else dict(item.value)


class SettingsAskers:
    """Who may ask the experts: a Global or Security Administrator, or a notification contact
    (a user contact, or a member of a group contact)."""

    def __init__(self, settings: SettingsSource, directory: TenantDirectory) -> None:
        self._settings = settings
        self._directory = directory

    async def may_ask(self, tenant_id: str, user_id: str) -> bool:
        if not user_id or tenant_id.lower() != self._directory.tenant_id.lower():
            return False
        try:
            if await self._directory.is_admin(user_id):
                return True
            record = await self._settings.current(tenant_id)
            contacts = record.settings.contacts
            if any(c.kind == "user" and c.id.lower() == user_id.lower() for c in contacts):
                return True
            groups = {c.id.lower() for c in contacts if c.kind == "group"}
            return bool(groups) and bool(
                groups & {g.lower() for g in await self._directory.user_group_ids(user_id)}
            )
        except DependencyError:
            return False
