"""The stored state of the Teams provisioning saga: one JSON document per tenant.

Key: ``tenants/{tenant_id}/teams`` (tenant id lower-case). Other services read it to find the
Managed response channel; see ``docs/graph.md`` for the shape they may rely on.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import IntEnum, StrEnum
from typing import Any

TEAM_NAME = "Defender Experts team"
CHANNEL_NAME = "Managed response"
TEAM_DESCRIPTION = (
    "Managed response notifications and chat with Microsoft Defender Experts for XDR."
)
CHANNEL_DESCRIPTION = (
    "Defender Experts posts a notification here for every incident it works on. Reply in an "
    "incident's thread to talk to the experts."
)
SCHEMA = 1


def teams_key(tenant_id: str) -> str:
    return f"tenants/{tenant_id.lower()}/teams"


def installation_key(tenant_id: str, team: str) -> str:
    """Where the last installation event of the bot in a team is kept (team: aadGroupId)."""
    return f"tenants/{tenant_id.lower()}/teamInstallations/{team.lower()}"


class Step(IntEnum):
    CREATE_TEAM = 1
    ENSURE_CHANNEL = 2
    INSTALL_APP = 3
    AWAIT_INSTALLATION = 4
    WELCOME = 5

    @property
    def title(self) -> str:
        return STEP_TITLES[self]


STEP_TITLES = {
    Step.CREATE_TEAM: f"Create the {TEAM_NAME}",
    Step.ENSURE_CHANNEL: f"Create the {CHANNEL_NAME} channel",
    Step.INSTALL_APP: "Add the Defender Experts app to the team",
    Step.AWAIT_INSTALLATION: "Wait for Teams to add the bot to the team",
    Step.WELCOME: f"Post a welcome message in {CHANNEL_NAME}",
}


class Status(StrEnum):
    RUNNING = "running"
    """Working on ``step``."""
    WAITING = "waiting"
    """Step 4: waiting for the bot's installation event in the team."""
    READY = "ready"
    """The channel is ready: the bot may post there (if ``enabled``)."""
    FAILED = "failed"
    """Stopped at ``step`` with ``failure``; the admin's card offers Retry."""
    REMOVED = "removed"
    """The bot was removed from the team; it can't post there until it is installed again."""


@dataclass(frozen=True)
class Failure:
    kind: str
    title: str
    message: str
    permissions: tuple[str, ...] = ()
    step: int = 0
    request_id: str = ""
    at: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title,
            "message": self.message,
            "permissions": list(self.permissions),
            "step": self.step,
            "requestId": self.request_id,
            "at": self.at,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Failure:
        return cls(
            kind=str(d.get("kind", "")),
            title=str(d.get("title", "")),
            message=str(d.get("message", "")),
            permissions=tuple(str(p) for p in d.get("permissions") or ()),
            step=int(d.get("step") or 0),
            request_id=str(d.get("requestId", "")),
            at=str(d.get("at", "")),
        )


@dataclass(frozen=True)
class Progress:
    """The admin's progress card: where it is, so that it can be updated in place."""

    reference: dict[str, Any]
    activity_id: str

    def to_json(self) -> dict[str, Any]:
        return {"reference": self.reference, "activityId": self.activity_id}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Progress:
        return cls(reference=dict(d.get("reference") or {}), activity_id=str(d.get("activityId")))


@dataclass(frozen=True)
class TeamsRecord:
    """The saga's state. Every field is written before the step that depends on it runs."""

    tenant_id: str
    enabled: bool = True
    status: Status = Status.RUNNING
    step: Step = Step.CREATE_TEAM
    requested_by: dict[str, str] = field(default_factory=dict)
    requested_at: str = ""
    team_name: str = TEAM_NAME
    channel_name: str = CHANNEL_NAME
    team_id: str = ""
    team_thread_id: str = ""
    create_requested_at: str = ""
    operation: str = ""
    operation_polls: int = 0
    channel_id: str = ""
    channel_url: str = ""
    app_installed: bool = False
    team_reference: dict[str, Any] = field(default_factory=dict)
    channel_reference: dict[str, Any] = field(default_factory=dict)
    welcome_post_id: str = ""
    welcome_conversation_id: str = ""
    welcome_channel_id: str = ""
    progress: Progress | None = None
    failure: Failure | None = None
    updated_at: str = ""

    @property
    def ready(self) -> bool:
        """True when notifications may be posted in the channel."""
        return self.enabled and self.status is Status.READY

    @property
    def active(self) -> bool:
        """True while the saga has work to do: running a step, or waiting for Teams."""
        return self.enabled and self.status in (Status.RUNNING, Status.WAITING)

    def evolve(self, **changes: Any) -> TeamsRecord:
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "tenantId": self.tenant_id,
            "enabled": self.enabled,
            "state": self.status.value,
            "step": int(self.step),
            "requestedBy": dict(self.requested_by),
            "requestedAt": self.requested_at,
            "teamName": self.team_name,
            "channelName": self.channel_name,
            "teamId": self.team_id,
            "aadGroupId": self.team_id,
            "teamThreadId": self.team_thread_id,
            "createRequestedAt": self.create_requested_at,
            "operation": self.operation,
            "operationPolls": self.operation_polls,
            "channelId": self.channel_id,
            "channelUrl": self.channel_url,
            "appInstalled": self.app_installed,
            "teamReference": self.team_reference,
            "channelReference": self.channel_reference,
            "welcomePostId": self.welcome_post_id,
            "welcomeConversationId": self.welcome_conversation_id,
            "welcomeChannelId": self.welcome_channel_id,
            "progress": None if self.progress is None else self.progress.to_json(),
            "failure": None if self.failure is None else self.failure.to_json(),
            "updatedAt": self.updated_at,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TeamsRecord:
        progress = d.get("progress")
        failure = d.get("failure")
        try:
            status = Status(d.get("state", Status.RUNNING.value))
        except ValueError:
            status = Status.RUNNING
        try:
            step = Step(int(d.get("step") or 1))
        except ValueError:
            step = Step.CREATE_TEAM
        return cls(
            tenant_id=str(d.get("tenantId", "")),
            enabled=bool(d.get("enabled", True)),
            status=status,
            step=step,
            requested_by={str(k): str(v) for k, v in (d.get("requestedBy") or {}).items()},
            requested_at=str(d.get("requestedAt", "")),
            team_name=str(d.get("teamName") or TEAM_NAME),
            channel_name=str(d.get("channelName") or CHANNEL_NAME),
            team_id=str(d.get("teamId", "")),
            team_thread_id=str(d.get("teamThreadId", "")),
            create_requested_at=str(d.get("createRequestedAt", "")),
            operation=str(d.get("operation", "")),
            operation_polls=int(d.get("operationPolls") or 0),
            channel_id=str(d.get("channelId", "")),
            channel_url=str(d.get("channelUrl", "")),
            app_installed=bool(d.get("appInstalled", False)),
            team_reference=dict(d.get("teamReference") or {}),
            channel_reference=dict(d.get("channelReference") or {}),
            welcome_post_id=str(d.get("welcomePostId", "")),
            welcome_conversation_id=str(d.get("welcomeConversationId", "")),
            welcome_channel_id=str(d.get("welcomeChannelId", "")),
            progress=Progress.from_json(progress) if isinstance(progress, dict) else None,
            failure=Failure.from_json(failure) if isinstance(failure, dict) else None,
            updated_at=str(d.get("updatedAt", "")),
        )


def channel_reference(team_reference: dict[str, Any], channel_id: str) -> dict[str, Any]:
    """The conversation reference of a channel: the team's, with the channel as conversation."""
    reference = dict(team_reference)
    conversation = dict(reference.get("conversation") or {})
    conversation["id"] = channel_id
    conversation["conversationType"] = "channel"
    conversation.pop("name", None)
    reference["conversation"] = conversation
    reference.pop("activityId", None)
    return reference
