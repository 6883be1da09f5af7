"""How the guide and the settings look: drafts and settings records into cards (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.onboarding.model import Draft, Group, ServiceSettings, SettingsRecord, Step
from bot.tenant import ADMIN_ROLE_NAMES
from cards import messages, setup, verbs
from cards.elements import AdaptiveCard
from cards.text import phone, when
from cards.views import (
    Command,
    ContactRow,
    ContactsView,
    ExclusionsView,
    GroupTabView,
    HelpView,
    MessageView,
    NotAuthorizedView,
    Notice,
    Option,
    PermissionsView,
    ReviewView,
    Section,
    SettingsView,
    TeamsView,
)

COMMANDS = (
    Command("setup", "Run the Defender Experts settings setup guide"),
    Command("settings", "View the current settings and edit any section"),
    Command("status", "View the readiness assessment (Service status)"),
    Command("report", "View the service report: report 7, report 90, or report FROM TO"),
    Command("help", "Show this list of commands"),
    Command("ask", "Write to the Defender Experts from this chat (stop ends it)"),
)


def help_card(notice: Notice | None = None, *, configured: bool = False) -> AdaptiveCard:
    return messages.help_card(HelpView(COMMANDS, notice, configured))


def not_authorized(name: str) -> AdaptiveCard:
    return messages.not_authorized_card(NotAuthorizedView(ADMIN_ROLE_NAMES, name))


def unavailable(advice: str) -> AdaptiveCard:
    """The directory couldn't answer: say so, and that nothing changed."""
    return messages.message_card(
        MessageView(
            title="Defender Experts can't reach your directory",
            text=advice,
            actions=((verbs.HELP, "Help"),),
            notice=Notice("Nothing was changed.", "warning"),
        )
    )


def settings_card(record: SettingsRecord, notice: Notice | None = None) -> AdaptiveCard:
    last = record.audit[-1] if record.audit else None
    return setup.settings_card(
        SettingsView(
            version=record.version,
            sections=sections(record.settings) if record.version else (),
            updated_by=last.by.name if last else "",
            updated_at=when(last.at) if last else "",
            notice=notice,
        )
    )


def stale(draft: Draft) -> AdaptiveCard:
    """The current step of a draft someone else changed since the card was rendered."""
    who = draft.updated_by.name or "another administrator"
    at = f"on {when(draft.updated_at)}" if draft.updated_at else "recently"
    return render(
        draft,
        Notice(
            f"This card was out of date: {who} changed the setup {at}. "
            "Nothing was changed. This is the current step.",
            "warning",
        ),
    )


def render(
    draft: Draft, notice: Notice | None, saved: ServiceSettings | None = None
) -> AdaptiveCard:
    """The card of the draft's step; an edit's review marks what differs from ``saved``."""
    s = draft.settings
    if draft.step is Step.PERMISSIONS:
        return setup.permissions_card(
            PermissionsView(draft.rev, s.investigate, s.respond, draft.mode, notice)
        )
    if draft.step is Step.EXCLUSIONS:
        pending = draft.pending_exclusions or s.exclusions
        return setup.exclusions_card(
            ExclusionsView(
                rev=draft.rev,
                devices=GroupTabView(
                    draft.device_query,
                    _options(draft.device_results),
                    _options(pending.device_groups),
                    pending.high_value_devices,
                ),
                users=GroupTabView(
                    draft.user_query,
                    _options(draft.user_results),
                    _options(pending.user_groups),
                    pending.high_value_users,
                ),
                mode=draft.mode,
                notice=notice,
            )
        )
    if draft.step is Step.CONTACTS:
        return setup.contacts_card(
            ContactsView(
                rev=draft.rev,
                query=draft.contact_query,
                results=tuple(Option(c.id, c.name, c.mail) for c in draft.contact_results),
                contacts=tuple(
                    ContactRow(c.id, c.name, c.mail, c.purpose.value, c.purpose.label, c.phone)
                    for c in s.contacts
                ),
                mode=draft.mode,
                notice=notice,
            )
        )
    if draft.step is Step.TEAMS:
        return setup.teams_card(TeamsView(draft.rev, s.communicate_on_teams, draft.mode, notice))
    shown = sections(s)
    if saved is not None:
        shown = setup.mark_changes(shown, sections(saved))
    return setup.review_card(ReviewView(draft.rev, shown, draft.mode, notice))


def sections(s: ServiceSettings) -> tuple[Section, ...]:
    contacts = tuple(
        (c.purpose.label, " · ".join(x for x in (c.name, c.mail, phone(c.phone)) if x))
        for c in s.contacts
    ) or (("Contacts", "None"),)
    ex = s.exclusions
    return (
        Section(
            Step.PERMISSIONS.value,
            "Permissions",
            (
                (
                    setup.INVESTIGATE_LABEL,
                    "Granted (Security Reader)" if s.investigate else "Not granted",
                ),
                (
                    setup.RESPOND_LABEL,
                    "Granted (Security Operator)" if s.respond else "Not granted",
                ),
            ),
        ),
        Section(
            Step.EXCLUSIONS.value,
            "Exclusions",
            (
                ("Device groups", names(ex.device_groups) or "None"),
                ("User groups", names(ex.user_groups) or "None"),
                ("Exclude all high-value devices", _on(ex.high_value_devices)),
                ("Exclude all high-value users", _on(ex.high_value_users)),
            ),
        ),
        Section(Step.CONTACTS.value, "Notification contacts", contacts),
        Section(
            Step.TEAMS.value, "Teams", (("Communicate on Teams", _on(s.communicate_on_teams)),)
        ),
    )


def _on(value: bool) -> str:
    return "On" if value else "Off"


def _options(groups: Sequence[Group]) -> tuple[Option, ...]:
    return tuple(Option(g.id, g.name) for g in groups)


def names(groups: Sequence[Group]) -> str:
    return ", ".join(g.name for g in groups)
