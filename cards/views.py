"""View models: the plain data each card is built from. Cards know nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

NoticeKind = Literal["error", "warning", "info", "good"]
Mode = Literal["setup", "edit"]


@dataclass(frozen=True)
class Notice:
    text: str
    kind: NoticeKind = "info"


@dataclass(frozen=True)
class Option:
    id: str
    title: str
    subtitle: str = ""


@dataclass(frozen=True)
class PermissionsView:
    rev: int
    investigate: bool
    respond: bool
    mode: Mode = "setup"
    notice: Notice | None = None


@dataclass(frozen=True)
class GroupTabView:
    query: str
    results: tuple[Option, ...]
    excluded: tuple[Option, ...]
    high_value: bool


@dataclass(frozen=True)
class ExclusionsView:
    rev: int
    devices: GroupTabView
    users: GroupTabView
    mode: Mode = "setup"
    notice: Notice | None = None


@dataclass(frozen=True)
class ContactRow:
    id: str
    name: str
    mail: str
    purpose: str
    purpose_label: str
    phone: str = ""


@dataclass(frozen=True)
class ContactsView:
    rev: int
    query: str
    results: tuple[Option, ...]
    contacts: tuple[ContactRow, ...]
    phone: str = ""
    purpose: str = ""
    mode: Mode = "setup"
    notice: Notice | None = None


@dataclass(frozen=True)
class TeamsView:
    rev: int
    enabled: bool
    mode: Mode = "setup"
    notice: Notice | None = None


@dataclass(frozen=True)
class Section:
    """A titled block of settings; ``changed`` names the facts that differ from the saved
    settings (the review of an edit highlights them)."""

    key: str
    title: str
    facts: tuple[tuple[str, str], ...]
    changed: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReviewView:
    rev: int
    sections: tuple[Section, ...]
    mode: Mode = "setup"
    notice: Notice | None = None


@dataclass(frozen=True)
class SubmittedView:
    version: int
    teams_requested: bool
    submitted_by: str


@dataclass(frozen=True)
class SettingsView:
    version: int
    sections: tuple[Section, ...]
    updated_by: str = ""
    updated_at: str = ""
    notice: Notice | None = None


@dataclass(frozen=True)
class WelcomeView:
    user_name: str
    configured: bool


@dataclass(frozen=True)
class Command:
    name: str
    description: str


@dataclass(frozen=True)
class HelpView:
    commands: tuple[Command, ...]
    notice: Notice | None = None
    configured: bool = False


@dataclass(frozen=True)
class NotAuthorizedView:
    roles: tuple[str, ...]
    user_name: str = ""


@dataclass(frozen=True)
class MessageView:
    """A short card with a title, text and optional follow-up actions (verb, title)."""

    title: str
    text: str
    actions: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    notice: Notice | None = None
