"""The service settings an admin chooses in the setup guide, the draft, and the audit trail."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Literal


class Purpose(StrEnum):
    """What a contact is for ("Contact for" in the guide)."""

    INCIDENT = "incidentNotification"
    SERVICE_REVIEW = "serviceReview"

    @property
    def label(self) -> str:
        return "Incident notification" if self is Purpose.INCIDENT else "Service review"


class Step(StrEnum):
    PERMISSIONS = "permissions"
    EXCLUSIONS = "exclusions"
    CONTACTS = "contacts"
    TEAMS = "teams"
    REVIEW = "review"


STEP_TITLES = {
    Step.PERMISSIONS: "Permissions",
    Step.EXCLUSIONS: "Exclusions",
    Step.CONTACTS: "Notification contacts",
    Step.TEAMS: "Teams",
    Step.REVIEW: "Review",
}


@dataclass(frozen=True)
class Group:
    id: str
    name: str

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Group:
        return cls(id=str(d["id"]), name=str(d["name"]))


@dataclass(frozen=True)
class Contact:
    id: str
    name: str
    mail: str
    kind: Literal["user", "group"]
    purpose: Purpose
    phone: str = ""

    @property
    def key(self) -> tuple[str, Purpose]:
        return (self.id, self.purpose)

    def to_json(self) -> dict[str, str]:
        return {
            "id": self.id,
            "name": self.name,
            "mail": self.mail,
            "kind": self.kind,
            "purpose": self.purpose.value,
            "phone": self.phone,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Contact:
        kind: Literal["user", "group"] = "group" if d.get("kind") == "group" else "user"
        return cls(
            id=str(d["id"]),
            name=str(d["name"]),
            mail=str(d.get("mail", "")),
            kind=kind,
            purpose=Purpose(d["purpose"]),
            phone=str(d.get("phone", "")),
        )


@dataclass(frozen=True)
class Candidate:
    """A person or team found by a contact search."""

    id: str
    name: str
    mail: str
    kind: Literal["user", "group"]

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "mail": self.mail, "kind": self.kind}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Candidate:
        kind: Literal["user", "group"] = "group" if d.get("kind") == "group" else "user"
        return cls(id=str(d["id"]), name=str(d["name"]), mail=str(d.get("mail", "")), kind=kind)


@dataclass(frozen=True)
class Exclusions:
    device_groups: tuple[Group, ...] = ()
    user_groups: tuple[Group, ...] = ()
    high_value_devices: bool = False
    high_value_users: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "deviceGroups": [g.to_json() for g in self.device_groups],
            "userGroups": [g.to_json() for g in self.user_groups],
            "excludeHighValueDevices": self.high_value_devices,
            "excludeHighValueUsers": self.high_value_users,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Exclusions:
        return cls(
            device_groups=tuple(Group.from_json(g) for g in d.get("deviceGroups", [])),
            user_groups=tuple(Group.from_json(g) for g in d.get("userGroups", [])),
            high_value_devices=bool(d.get("excludeHighValueDevices", False)),
            high_value_users=bool(d.get("excludeHighValueUsers", False)),
        )


@dataclass(frozen=True)
class ServiceSettings:
    """The committed choices of the setup guide."""

    investigate: bool = True
    respond: bool = False
    exclusions: Exclusions = field(default_factory=Exclusions)
    contacts: tuple[Contact, ...] = ()
    communicate_on_teams: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "permissions": {"investigate": self.investigate, "respond": self.respond},
            "exclusions": self.exclusions.to_json(),
            "contacts": [c.to_json() for c in self.contacts],
            "teams": {"communicateOnTeams": self.communicate_on_teams},
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ServiceSettings:
        perms = d.get("permissions", {})
        return cls(
            investigate=bool(perms.get("investigate", True)),
            respond=bool(perms.get("respond", False)),
            exclusions=Exclusions.from_json(d.get("exclusions", {})),
            contacts=tuple(Contact.from_json(c) for c in d.get("contacts", [])),
            communicate_on_teams=bool(d.get("teams", {}).get("communicateOnTeams", False)),
        )

    def incident_contacts(self) -> tuple[Contact, ...]:
        return tuple(c for c in self.contacts if c.purpose is Purpose.INCIDENT)


@dataclass(frozen=True)
class Person:
    id: str
    name: str

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Person:
        return cls(id=str(d.get("id", "")), name=str(d.get("name", "")))


@dataclass(frozen=True)
class Draft:
    """Work in progress of the guide, saved after every step, one per tenant."""

    rev: int
    base_version: int
    mode: Literal["setup", "edit"]
    step: Step
    settings: ServiceSettings
    pending_exclusions: Exclusions | None = None
    device_results: tuple[Group, ...] = ()
    user_results: tuple[Group, ...] = ()
    contact_results: tuple[Candidate, ...] = ()
    device_query: str = ""
    user_query: str = ""
    contact_query: str = ""
    updated_by: Person = Person("", "")
    updated_at: str = ""
    exclusions_seen: bool = False
    """The optional exclusions step was opened (Manage exclusions) in this draft: Back from the
    contacts returns there, otherwise to the permissions."""

    def advance(self, **changes: Any) -> Draft:
        return replace(self, rev=self.rev + 1, **changes)

    def to_json(self) -> dict[str, Any]:
        return {
            "rev": self.rev,
            "baseVersion": self.base_version,
            "mode": self.mode,
            "step": self.step.value,
            "settings": self.settings.to_json(),
            "pendingExclusions": (
                None if self.pending_exclusions is None else self.pending_exclusions.to_json()
            ),
            "deviceResults": [g.to_json() for g in self.device_results],
            "userResults": [g.to_json() for g in self.user_results],
            "contactResults": [c.to_json() for c in self.contact_results],
            "deviceQuery": self.device_query,
            "userQuery": self.user_query,
            "contactQuery": self.contact_query,
            "updatedBy": self.updated_by.to_json(),
            "updatedAt": self.updated_at,
            "exclusionsSeen": self.exclusions_seen,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Draft:
        pending = d.get("pendingExclusions")
        return cls(
            rev=int(d["rev"]),
            base_version=int(d["baseVersion"]),
            mode="edit" if d.get("mode") == "edit" else "setup",
            step=Step(d["step"]),
            settings=ServiceSettings.from_json(d["settings"]),
            pending_exclusions=None if pending is None else Exclusions.from_json(pending),
            device_results=tuple(Group.from_json(g) for g in d.get("deviceResults", [])),
            user_results=tuple(Group.from_json(g) for g in d.get("userResults", [])),
            contact_results=tuple(Candidate.from_json(c) for c in d.get("contactResults", [])),
            device_query=str(d.get("deviceQuery", "")),
            user_query=str(d.get("userQuery", "")),
            contact_query=str(d.get("contactQuery", "")),
            updated_by=Person.from_json(d.get("updatedBy", {})),
            updated_at=str(d.get("updatedAt", "")),
            exclusions_seen=d.get("exclusionsSeen") is True,
        )


@dataclass(frozen=True)
class Change:
    field: str
    before: Any
    after: Any

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field, "from": self.before, "to": self.after}


@dataclass(frozen=True)
class AuditEntry:
    version: int
    by: Person
    at: str
    changes: tuple[Change, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "by": self.by.to_json(),
            "at": self.at,
            "changes": [c.to_json() for c in self.changes],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> AuditEntry:
        return cls(
            version=int(d["version"]),
            by=Person.from_json(d["by"]),
            at=str(d["at"]),
            changes=tuple(Change(c["field"], c["from"], c["to"]) for c in d.get("changes", [])),
        )


@dataclass(frozen=True)
class SettingsRecord:
    """The committed settings of a tenant, their version, and their audit trail."""

    version: int
    settings: ServiceSettings
    audit: tuple[AuditEntry, ...] = ()
    teams_requested_at: str = ""
    previous: ServiceSettings | None = None
    """The settings this version replaced, so that a commit's follow-up work can be redone."""

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "settings": self.settings.to_json(),
            "audit": [a.to_json() for a in self.audit],
            "teamsRequestedAt": self.teams_requested_at,
            "previousSettings": None if self.previous is None else self.previous.to_json(),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SettingsRecord:
        previous = d.get("previousSettings")
        return cls(
            version=int(d["version"]),
            settings=ServiceSettings.from_json(d["settings"]),
            audit=tuple(AuditEntry.from_json(a) for a in d.get("audit", [])),
            teams_requested_at=str(d.get("teamsRequestedAt", "")),
            previous=None if previous is None else ServiceSettings.from_json(previous),
        )


def diff_settings(before: ServiceSettings, after: ServiceSettings) -> tuple[Change, ...]:
    """Field-level changes between two settings, for the audit trail."""
    b, a = _flatten(before.to_json()), _flatten(after.to_json())
    return tuple(
        Change(k, b.get(k), a.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)
    )


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in d.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{path}."))
        elif isinstance(value, list):
            out[path] = sorted(
                (v.get("name", "") + (f" ({v['purpose']})" if "purpose" in v else ""))
                if isinstance(v, dict)
                else str(v)
                for v in value
            )
        else:
            out[path] = value
    return out
