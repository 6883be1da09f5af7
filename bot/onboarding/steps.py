"""The setup guide's steps: pure changes to a draft, checked against the tenant directory.

Each step action takes the draft and the untrusted card data and returns the next draft and an
optional notice, or raises :class:`ValidationError` with a message safe to show on the card.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from bot.errors import ValidationError
from bot.onboarding import validation as v
from bot.onboarding.model import (
    Candidate,
    Contact,
    Draft,
    Exclusions,
    Group,
    Purpose,
    ServiceSettings,
    Step,
)
from bot.onboarding.rendering import names
from bot.tenant import GroupRef, TenantDirectory
from cards import setup, verbs
from cards.views import Notice

SEARCH_LIMIT = 20
MAX_GROUPS = 200
MAX_CONTACTS = 50

DraftResult = tuple[Draft, Notice | None]
DraftAction = Callable[[Draft, Mapping[str, Any]], Awaitable[DraftResult]]

SearchGroups = Callable[[str, int], Awaitable[list[GroupRef]]]
GetGroup = Callable[[str], Awaitable[GroupRef | None]]


@dataclass(frozen=True)
class Tab:
    """One tab of the exclusions step: which inputs, draft fields and directory calls it uses."""

    noun: str
    search_label: str
    query_input: str
    pick_input: str
    groups: str
    results: str
    query: str
    search: Callable[[TenantDirectory], SearchGroups]
    get: Callable[[TenantDirectory], GetGroup]

    def with_groups(self, pending: Exclusions, groups: tuple[Group, ...]) -> Exclusions:
        if self.groups == "device_groups":
            return replace(pending, device_groups=groups)
        return replace(pending, user_groups=groups)


DEVICE_TAB = Tab(
    noun="device group",
    search_label="Device group search",
    query_input="device_query",
    pick_input="device_pick",
    groups="device_groups",
    results="device_results",
    query="device_query",
    search=lambda d: d.search_device_groups,
    get=lambda d: d.get_device_group,
)
USER_TAB = Tab(
    noun="user group",
    search_label="User group search",
    query_input="user_query",
    pick_input="user_pick",
    groups="user_groups",
    results="user_results",
    query="user_query",
    search=lambda d: d.search_user_groups,
    get=lambda d: d.get_user_group,
)


def _after(draft: Draft, step: Step) -> Step:
    """The step after ``step``: in edit mode every section returns to the summary."""
    return Step.REVIEW if draft.mode == "edit" else step


class GuideSteps:
    """The step actions of the guide, by verb."""

    def __init__(self, directory: TenantDirectory) -> None:
        self._directory = directory
        self.actions: dict[str, DraftAction] = {
            verbs.SETUP_BACK: self._back,
            verbs.SETUP_GOTO: self._goto,
            verbs.PERMISSIONS_NEXT: self._permissions_next,
            verbs.PERMISSIONS_EXCLUSIONS: self._permissions_exclusions,
            verbs.EXCLUSIONS_SEARCH_DEVICES: partial(self._search, DEVICE_TAB),
            verbs.EXCLUSIONS_ADD_DEVICES: partial(self._add, DEVICE_TAB),
            verbs.EXCLUSIONS_REMOVE_DEVICE: partial(self._remove, DEVICE_TAB),
            verbs.EXCLUSIONS_SEARCH_USERS: partial(self._search, USER_TAB),
            verbs.EXCLUSIONS_ADD_USERS: partial(self._add, USER_TAB),
            verbs.EXCLUSIONS_REMOVE_USER: partial(self._remove, USER_TAB),
            verbs.EXCLUSIONS_NEXT: self._exclusions_next,
            verbs.EXCLUSIONS_SKIP: self._exclusions_skip,
            verbs.CONTACTS_SEARCH: self._contacts_search,
            verbs.CONTACTS_ADD: self._contacts_add,
            verbs.CONTACTS_REMOVE: self._contacts_remove,
            verbs.CONTACTS_NEXT: self._contacts_next,
            verbs.TEAMS_NEXT: self._teams_next,
        }

    async def _back(self, draft: Draft, data: Mapping[str, Any]) -> DraftResult:
        previous = {
            Step.EXCLUSIONS: Step.PERMISSIONS,
            # Exclusions is optional: Back lands there only if the admin opened it.
            Step.CONTACTS: Step.EXCLUSIONS if draft.exclusions_seen else Step.PERMISSIONS,
            Step.TEAMS: Step.CONTACTS,
            Step.REVIEW: Step.TEAMS,
            Step.PERMISSIONS: Step.REVIEW if draft.mode == "edit" else Step.PERMISSIONS,
        }[draft.step]
        if draft.mode == "edit" and draft.step is not Step.REVIEW:
            previous = Step.REVIEW
        return draft.advance(step=previous), None

    async def _goto(self, draft: Draft, data: Mapping[str, Any]) -> DraftResult:
        try:
            step = Step(v.ident(data, "step", "step"))
        except ValueError:
            raise ValidationError("That step doesn't exist.") from None
        seen = draft.exclusions_seen or step is Step.EXCLUSIONS
        return draft.advance(step=step, exclusions_seen=seen), None

    def _permissions(self, draft: Draft, data: Mapping[str, Any]) -> ServiceSettings:
        """The default access is always granted; only Respond is a choice."""
        if not v.flag(data, "investigate", "Investigate incidents", default=True):
            raise ValidationError(
                f"{setup.INVESTIGATE_LABEL} is always granted: it's the access our experts need "
                "to work. Nothing was changed."
            )
        respond = v.flag(data, "respond", "Respond directly", default=draft.settings.respond)
        return replace(draft.settings, investigate=True, respond=respond)

    async def _permissions_next(self, draft: Draft, data: Mapping[str, Any]) -> DraftResult:
        settings = self._permissions(draft, data)
        return draft.advance(settings=settings, step=_after(draft, Step.CONTACTS)), None

    async def _permissions_exclusions(self, draft: Draft, data: Mapping[str, Any]) -> DraftResult:
        settings = self._permissions(draft, data)
        return draft.advance(settings=settings, step=Step.EXCLUSIONS, exclusions_seen=True), None

    # ---- exclusions

    def _pending(self, draft: Draft, data: Mapping[str, Any]) -> Exclusions:
        pending = draft.pending_exclusions or draft.settings.exclusions
        return replace(
            pending,
            high_value_devices=v.flag(
                data,
                "hv_devices",
                "Exclude all high-value devices",
                default=pending.high_value_devices,
            ),
            high_value_users=v.flag(
                data, "hv_users", "Exclude all high-value users", default=pending.high_value_users
            ),
        )

    def _require_step(self, draft: Draft, step: Step) -> None:
        if draft.step is not step:
            raise ValidationError("That action belongs to another step, so nothing was changed.")

    async def _search(self, tab: Tab, draft: Draft, data: Mapping[str, Any]) -> DraftResult:
        self._require_step(draft, Step.EXCLUSIONS)
        pending = self._pending(draft, data)
        query = v.text(data, tab.query_input, tab.search_label)
        excluded = {g.id for g in getattr(pending, tab.groups)}
        found = [
            Group(g.id, g.name)
            for g in await tab.search(self._directory)(query, SEARCH_LIMIT)
            if g.id not in excluded
        ]
        notice = None if found else Notice(_no_match(f"{tab.noun}s", query), "info")
        changes = {"pending_exclusions": pending, tab.query: query, tab.results: tuple(found)}
        return draft.advance(**changes), notice

    async def _add(self, tab: Tab, draft: Draft, data: Mapping[str, Any]) -> DraftResult:
        self._require_step(draft, Step.EXCLUSIONS)
        pending = self._pending(draft, data)
        ids = v.ident_list(data, tab.pick_input, tab.noun)
        if not ids:
            raise ValidationError(f"Choose at least one {tab.noun} from the results first.")
        added = []
        for gid in ids:
            group = await tab.get(self._directory)(gid)
            if group is None:
                raise ValidationError(
                    f"A chosen {tab.noun} doesn't exist in your tenant. "
                    "Search again and choose from the results."
                )
            added.append(Group(group.id, group.name))
        merged = _merge(getattr(pending, tab.groups), added)
        if len(merged) > MAX_GROUPS:
            raise ValidationError(f"You can exclude at most {MAX_GROUPS} {tab.noun}s.")
        taken = {g.id for g in merged}
        changes = {
            "pending_exclusions": tab.with_groups(pending, merged),
            tab.results: tuple(g for g in getattr(draft, tab.results) if g.id not in taken),
        }
        return draft.advance(**changes), Notice(
            f"Added {names(added)}. Select Next to confirm your exclusion list.", "good"
        )

    async def _remove(self, tab: Tab, draft: Draft, data: Mapping[str, Any]) -> DraftResult:
        self._require_step(draft, Step.EXCLUSIONS)
        pending = self._pending(draft, data)
        gid = v.ident(data, "id", tab.noun)
        current: tuple[Group, ...] = getattr(pending, tab.groups)
        removed = next((g for g in current if g.id == gid), None)
        if removed is None:
            raise ValidationError(f"That {tab.noun} isn't in the exclusion list.")
        kept = tuple(g for g in current if g.id != gid)
        return draft.advance(pending_exclusions=tab.with_groups(pending, kept)), Notice(
            f"Removed {removed.name}.", "info"
        )

    async def _exclusions_next(self, draft: Draft, data: Mapping[str, Any]) -> DraftResult:
        self._require_step(draft, Step.EXCLUSIONS)
        pending = self._pending(draft, data)
        return draft.advance(
            settings=replace(draft.settings, exclusions=pending),
            pending_exclusions=None,
            device_results=(),
            user_results=(),
            device_query="",
            user_query="",
            step=_after(draft, Step.CONTACTS),
        ), None

    async def _exclusions_skip(self, draft: Draft, data: Mapping[str, Any]) -> DraftResult:
        self._require_step(draft, Step.EXCLUSIONS)
        return draft.advance(
            pending_exclusions=None,
            device_results=(),
            user_results=(),
            device_query="",
            user_query="",
            step=_after(draft, Step.CONTACTS),
        ), Notice("Exclusions added in that step were discarded.", "info")

    # ---- contacts

    async def _contacts_search(self, draft: Draft, data: Mapping[str, Any]) -> DraftResult:
        self._require_step(draft, Step.CONTACTS)
        query = v.text(data, "contact_query", "Contact search")
        if not query:
            raise ValidationError("Type part of a name or email address to search.")
        found = await self._directory.search_contacts(query, SEARCH_LIMIT)
        notice = None if found else Notice(_no_match("people or teams", query), "info")
        return draft.advance(
            contact_query=query,
            contact_results=tuple(Candidate(e.id, e.name, e.mail, e.kind) for e in found),
        ), notice

    async def _contacts_add(self, draft: Draft, data: Mapping[str, Any]) -> DraftResult:
        self._require_step(draft, Step.CONTACTS)
        entry_id = v.ident(data, "contact_pick", "person or team")
        phone = v.phone(data)
        raw_purpose = data.get("contact_for")
        try:
            purpose = Purpose(raw_purpose) if isinstance(raw_purpose, str) else None
        except ValueError:
            purpose = None
        if purpose is None:
            raise ValidationError(
                "Choose what this contact is for: Incident notification or Service review.",
                field="contact_for",
            )
        entry = await self._directory.get_contact(entry_id)
        if entry is None:
            raise ValidationError(
                "That person or team doesn't exist in your directory. "
                "Search again and choose from the results."
            )
        contact = Contact(entry.id, entry.name, entry.mail, entry.kind, purpose, phone)
        if any(c.key == contact.key for c in draft.settings.contacts):
            raise ValidationError(f"{entry.name} is already a contact for {purpose.label}.")
        if len(draft.settings.contacts) >= MAX_CONTACTS:
            raise ValidationError(f"You can add at most {MAX_CONTACTS} contacts.")
        settings = replace(draft.settings, contacts=(*draft.settings.contacts, contact))
        return draft.advance(settings=settings, contact_results=(), contact_query=""), Notice(
            f"Added {entry.name} as a contact for {purpose.label}.", "good"
        )

    async def _contacts_remove(self, draft: Draft, data: Mapping[str, Any]) -> DraftResult:
        self._require_step(draft, Step.CONTACTS)
        entry_id = v.ident(data, "id", "contact")
        purpose = data.get("purpose")
        kept = tuple(
            c
            for c in draft.settings.contacts
            if not (c.id == entry_id and c.purpose.value == purpose)
        )
        if len(kept) == len(draft.settings.contacts):
            raise ValidationError("That contact isn't in the list.")
        removed = next(c for c in draft.settings.contacts if c not in kept)
        return draft.advance(settings=replace(draft.settings, contacts=kept)), Notice(
            f"Removed {removed.name} ({removed.purpose.label}).", "info"
        )

    async def _contacts_next(self, draft: Draft, data: Mapping[str, Any]) -> DraftResult:
        self._require_step(draft, Step.CONTACTS)
        if not draft.settings.incident_contacts():
            raise ValidationError(
                "Add at least one Incident notification contact: we notify "
                "them about managed response actions."
            )
        return draft.advance(
            contact_results=(), contact_query="", step=_after(draft, Step.TEAMS)
        ), None

    async def _teams_next(self, draft: Draft, data: Mapping[str, Any]) -> DraftResult:
        self._require_step(draft, Step.TEAMS)
        enabled = v.flag(
            data,
            "teams_enabled",
            "Communicate on Teams",
            default=draft.settings.communicate_on_teams,
        )
        settings = replace(draft.settings, communicate_on_teams=enabled)
        return draft.advance(settings=settings, step=Step.REVIEW), None


def _merge(existing: Sequence[Group], added: Sequence[Group]) -> tuple[Group, ...]:
    seen = {g.id for g in existing}
    out = list(existing)
    for g in added:
        if g.id not in seen:
            seen.add(g.id)
            out.append(g)
    return tuple(out)


def _no_match(what: str, query: str) -> str:
    return f"No {what} match “{query}”." if query else f"No {what} found."
