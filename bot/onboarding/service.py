"""The setup guide and settings: plain async logic behind the card dialogs.

Every action is checked against the caller's role, the draft revision it was rendered from, and
the tenant directory. A refused action returns the current card with an inline message and leaves
stored state unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol

from microsoft_teams.cards.core import AdaptiveCard

from bot.errors import ConcurrencyError, DependencyError, ValidationError
from bot.onboarding import validation as v
from bot.onboarding.model import (
    AuditEntry,
    Candidate,
    Contact,
    Draft,
    Exclusions,
    Group,
    Person,
    Purpose,
    ServiceSettings,
    SettingsRecord,
    Step,
    diff_settings,
)
from bot.storage import Item, Store
from bot.tenant import ADMIN_ROLE_NAMES, GroupRef, TenantDirectory
from cards import messages, setup, verbs
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
    SubmittedView,
    TeamsView,
    WelcomeView,
)

log = logging.getLogger(__name__)

SEARCH_LIMIT = 20
MAX_GROUPS = 200
MAX_CONTACTS = 50
AUDIT_KEEP = 500

COMMANDS = (
    Command("setup", "Run the Defender Experts settings setup guide"),
    Command("settings", "View the current settings and edit any section"),
    Command("help", "Show this list of commands"),
    Command("ask", "Write to the Defender Experts from this chat (stop ends it)"),
)


@dataclass(frozen=True)
class Actor:
    """Who is acting: their Microsoft Entra object id, display name and tenant."""

    user_id: str
    name: str
    tenant_id: str

    @property
    def person(self) -> Person:
        return Person(self.user_id, self.name)


class SettingsListener(Protocol):
    """Called after settings are committed (provisioning, contact emails)."""

    async def __call__(
        self, tenant_id: str, record: SettingsRecord, previous: ServiceSettings, actor: Actor
    ) -> None: ...


DraftResult = tuple[Draft, Notice | None]
DraftAction = Callable[[Draft, Mapping[str, Any], Actor], Awaitable[DraftResult]]


SearchGroups = Callable[[str, int], Awaitable[list[GroupRef]]]
GetGroup = Callable[[str], Awaitable[GroupRef | None]]


@dataclass(frozen=True)
class _Tab:
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


DEVICE_TAB = _Tab(
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
USER_TAB = _Tab(
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


def _now() -> datetime:
    return datetime.now(UTC)


def _on(value: bool) -> str:
    return "On" if value else "Off"


class OnboardingService:
    """The setup guide as a map from verb to handler, over a Store and a TenantDirectory."""

    def __init__(
        self,
        store: Store,
        directory: TenantDirectory,
        *,
        clock: Callable[[], datetime] = _now,
        listeners: Sequence[SettingsListener] = (),
    ) -> None:
        self._store = store
        self._directory = directory
        self._clock = clock
        self._listeners = list(listeners)
        self._draft_actions: dict[str, DraftAction] = {
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
        self._other_actions: dict[
            str, Callable[[Actor, Mapping[str, Any]], Awaitable[AdaptiveCard]]
        ] = {
            verbs.SETUP_START: lambda actor, _data: self._start(actor),
            verbs.SUBMIT: self._submit,
            verbs.SETTINGS_SHOW: lambda actor, _data: self._settings(actor),
            verbs.SETTINGS_EDIT: self._edit,
            verbs.READINESS_VIEW: lambda _actor, _data: self._readiness_placeholder(),
            verbs.HELP: lambda _actor, _data: self._help(None),
        }

    def add_listener(self, listener: SettingsListener) -> None:
        self._listeners.append(listener)

    @property
    def verbs(self) -> frozenset[str]:
        return frozenset(self._draft_actions) | frozenset(self._other_actions)

    # ---- entry points -------------------------------------------------------------------

    async def welcome(self, actor: Actor) -> AdaptiveCard:
        record = await self.current(actor.tenant_id)
        return messages.welcome_card(
            WelcomeView(await self._display_name(actor), configured=record.version > 0)
        )

    async def _display_name(self, actor: Actor) -> str:
        """The actor's name; installation events often carry none, so ask the directory."""
        if actor.name or not actor.user_id:
            return actor.name
        try:
            entry = await self._directory.get_contact(actor.user_id)
        except DependencyError:
            return ""
        return entry.name if entry is not None and entry.kind == "user" else ""

    def help(self, notice: Notice | None = None) -> AdaptiveCard:
        return messages.help_card(HelpView(COMMANDS, notice))

    async def _help(self, notice: Notice | None) -> AdaptiveCard:
        return self.help(notice)

    async def start(self, actor: Actor) -> AdaptiveCard:
        return await self._guarded(actor, lambda: self._start(actor))

    async def show_settings(self, actor: Actor) -> AdaptiveCard:
        return await self._guarded(actor, lambda: self._settings(actor))

    async def act(self, actor: Actor, verb: str, data: Mapping[str, Any]) -> AdaptiveCard:
        """Handle one Universal Action. ``verb`` and ``data`` are untrusted."""
        if not isinstance(data, Mapping):
            data = {}
        if verb == verbs.HELP:
            return self.help()
        if verb not in self.verbs:
            log.warning("refused unknown card verb %r", verb[:64].encode("unicode_escape"))
            return self.help(
                Notice(
                    "That action isn't recognized, so nothing was changed. Here is what I can do.",
                    "error",
                )
            )
        other = self._other_actions.get(verb)
        if other is not None:
            return await self._guarded(actor, lambda: other(actor, data))
        return await self._guarded(actor, lambda: self._draft_action(actor, verb, data))

    async def current(self, tenant_id: str) -> SettingsRecord:
        item = await self._store.read(self._settings_key(tenant_id))
        if item is None:
            return SettingsRecord(version=0, settings=ServiceSettings())
        return SettingsRecord.from_json(item.value)

    # ---- authorization ------------------------------------------------------------------

    async def _guarded(
        self, actor: Actor, fn: Callable[[], Awaitable[AdaptiveCard]]
    ) -> AdaptiveCard:
        if actor.tenant_id.lower() != self._directory.tenant_id.lower() or not actor.user_id:
            log.warning("refused action from a user outside the served tenant")
            return messages.not_authorized_card(NotAuthorizedView(ADMIN_ROLE_NAMES, actor.name))
        try:
            if not await self._directory.is_admin(actor.user_id):
                return messages.not_authorized_card(NotAuthorizedView(ADMIN_ROLE_NAMES, actor.name))
            return await fn()
        except DependencyError as exc:
            log.warning("directory unavailable during a setup action: %s", exc)
            return messages.message_card(
                MessageView(
                    title="Defender Experts can't reach your directory",
                    text=exc.advice(),
                    actions=((verbs.HELP, "Help"),),
                    notice=Notice("Nothing was changed.", "warning"),
                )
            )

    # ---- keys ---------------------------------------------------------------------------

    @staticmethod
    def _settings_key(tenant_id: str) -> str:
        return f"tenants/{tenant_id.lower()}/settings"

    @staticmethod
    def _draft_key(tenant_id: str) -> str:
        return f"tenants/{tenant_id.lower()}/draft"

    async def _load(self, tenant_id: str) -> tuple[Item | None, SettingsRecord, Item | None]:
        settings_item = await self._store.read(self._settings_key(tenant_id))
        record = (
            SettingsRecord.from_json(settings_item.value)
            if settings_item
            else SettingsRecord(version=0, settings=ServiceSettings())
        )
        draft_item = await self._store.read(self._draft_key(tenant_id))
        return settings_item, record, draft_item

    def _stamp(self, draft: Draft, actor: Actor) -> Draft:
        return replace(draft, updated_by=actor.person, updated_at=self._clock().isoformat())

    # ---- whole-guide actions ------------------------------------------------------------

    async def _start(self, actor: Actor) -> AdaptiveCard:
        _, record, draft_item = await self._load(actor.tenant_id)
        if draft_item is not None:
            draft = Draft.from_json(draft_item.value)
            if draft.base_version == record.version:
                who = draft.updated_by.name or "another administrator"
                return self.render(
                    draft, Notice(f"Resuming the setup where {who} left off.", "info")
                )
        draft = self._stamp(
            Draft(
                rev=1,
                base_version=record.version,
                mode="setup",
                step=Step.PERMISSIONS,
                settings=record.settings,
            ),
            actor,
        )
        await self._store.write(
            self._draft_key(actor.tenant_id),
            draft.to_json(),
            etag=None if draft_item is None else draft_item.etag,
        )
        return self.render(draft, None)

    async def _edit(self, actor: Actor, data: Mapping[str, Any]) -> AdaptiveCard:
        try:
            step = Step(v.ident(data, "section", "section"))
        except (ValidationError, ValueError):
            return await self._settings(actor, Notice("That section doesn't exist.", "error"))
        if step is Step.REVIEW:
            return await self._settings(actor, Notice("That section doesn't exist.", "error"))
        _, record, draft_item = await self._load(actor.tenant_id)
        if record.version == 0:
            return await self._settings(
                actor, Notice("Complete the setup guide before editing settings.", "warning")
            )
        notice = None
        if (
            draft_item is not None
            and Draft.from_json(draft_item.value).base_version == record.version
        ):
            draft = Draft.from_json(draft_item.value)
            notice = Notice(
                f"Continuing the changes {draft.updated_by.name or 'an administrator'} started.",
                "info",
            )
            draft = draft.advance(step=step, mode="edit")
        else:
            draft = Draft(
                rev=1, base_version=record.version, mode="edit", step=step, settings=record.settings
            )
        draft = self._stamp(draft, actor)
        await self._store.write(
            self._draft_key(actor.tenant_id),
            draft.to_json(),
            etag=None if draft_item is None else draft_item.etag,
        )
        return self.render(draft, notice)

    async def _settings(self, actor: Actor, notice: Notice | None = None) -> AdaptiveCard:
        record = await self.current(actor.tenant_id)
        last = record.audit[-1] if record.audit else None
        return setup.settings_card(
            SettingsView(
                version=record.version,
                sections=self.sections(record.settings) if record.version else (),
                updated_by=last.by.name if last else "",
                updated_at=last.at[:16].replace("T", " ") + " UTC" if last else "",
                notice=notice,
            )
        )

    async def _readiness_placeholder(self) -> AdaptiveCard:
        return messages.message_card(
            MessageView(
                title="Readiness assessment",
                text="The readiness assessment is not available in this version of the bot yet. "
                "When it is, it will show your protected devices and identities against your "
                "license targets, and the actions needed before the service starts. Your "
                "settings are saved.",
                actions=((verbs.SETTINGS_SHOW, "View settings"),),
            )
        )

    async def _submit(self, actor: Actor, data: Mapping[str, Any]) -> AdaptiveCard:
        settings_item, record, draft_item = await self._load(actor.tenant_id)
        if draft_item is None:
            return await self._settings(
                actor,
                Notice(
                    "This setup was already submitted, so nothing was changed. "
                    "These are the current settings.",
                    "warning",
                ),
            )
        draft = Draft.from_json(draft_item.value)
        if v.revision(data) != draft.rev:
            return self._stale(draft)
        if draft.base_version != record.version:
            last = record.audit[-1] if record.audit else None
            who = last.by.name if last else "another administrator"
            rebased = self._stamp(
                draft.advance(base_version=record.version, step=Step.REVIEW), actor
            )
            await self._store.write(
                self._draft_key(actor.tenant_id), rebased.to_json(), etag=draft_item.etag
            )
            return self.render(
                rebased,
                Notice(
                    f"{who} saved other settings (version {record.version}) after this draft was "
                    "started. Check the summary below, then submit again to replace them.",
                    "warning",
                ),
            )
        problem = self._incomplete(draft.settings)
        if problem:
            return self.render(draft, Notice(problem, "error"))
        changes = diff_settings(record.settings, draft.settings)
        if record.version and not changes:
            await self._store.delete(self._draft_key(actor.tenant_id), etag=draft_item.etag)
            return await self._settings(actor, Notice("No changes to save.", "info"))
        now = self._clock().isoformat()
        turned_on = draft.settings.communicate_on_teams and not (
            record.version and record.settings.communicate_on_teams
        )
        new = SettingsRecord(
            version=record.version + 1,
            settings=draft.settings,
            previous=record.settings,
            audit=(*record.audit, AuditEntry(record.version + 1, actor.person, now, changes))[
                -AUDIT_KEEP:
            ],
            teams_requested_at=now
            if turned_on
            else (record.teams_requested_at if draft.settings.communicate_on_teams else ""),
        )
        try:
            await self._store.write(
                self._settings_key(actor.tenant_id),
                new.to_json(),
                etag=None if settings_item is None else settings_item.etag,
            )
        except ConcurrencyError:
            return self._stale(draft)
        try:
            await self._store.delete(self._draft_key(actor.tenant_id), etag=draft_item.etag)
        except ConcurrencyError:
            log.info("draft changed while submitting; left for its editor")
        log.info("settings version %d committed with %d change(s)", new.version, len(changes))
        await self._apply(actor.tenant_id, new, actor)
        if draft.mode == "edit":
            return await self._settings(
                actor, Notice(f"Saved. Settings are now at version {new.version}.", "good")
            )
        return setup.submitted_card(
            SubmittedView(
                version=new.version,
                teams_requested=new.settings.communicate_on_teams,
                submitted_by=actor.name or "An administrator",
            )
        )

    async def _apply(self, tenant_id: str, record: SettingsRecord, actor: Actor) -> None:
        """Run the follow-up work of a commit (contact emails, provisioning), then mark the
        version applied. Listeners are idempotent, so a crash in between is redone by
        :meth:`resume`."""
        previous = record.previous or ServiceSettings()
        failed = False
        for listener in self._listeners:
            try:
                await listener(tenant_id, record, previous, actor)
            except Exception:
                failed = True
                log.exception("settings listener failed after commit")
        if not failed:
            await self._store.write(
                self._applied_key(tenant_id), {"version": record.version}, etag="*"
            )

    async def resume(self) -> int:
        """At start-up: redo the follow-up work of every commit that a crash (or a failing
        listener) left unapplied. Returns how many tenants needed it."""
        redone = 0
        for key in await self._store.list_keys("tenants/"):
            if not key.endswith("/settings"):
                continue
            item = await self._store.read(key)
            if item is None:
                continue
            record = SettingsRecord.from_json(item.value)
            tenant_id = key.removeprefix("tenants/").removesuffix("/settings")
            applied = await self._store.read(self._applied_key(tenant_id))
            if applied is not None and int(applied.value.get("version", 0)) >= record.version:
                continue
            last = record.audit[-1].by if record.audit else Person("", "")
            log.info("redoing the follow-up of settings version %d", record.version)
            await self._apply(tenant_id, record, Actor(last.id, last.name, tenant_id))
            redone += 1
        return redone

    @staticmethod
    def _applied_key(tenant_id: str) -> str:
        return f"tenants/{tenant_id.lower()}/settings-applied"

    @staticmethod
    def _incomplete(s: ServiceSettings) -> str:
        if not (s.investigate or s.respond):
            return "Grant our experts at least one permission before you submit."
        if not s.incident_contacts():
            return "Add at least one Incident notification contact before you submit."
        return ""

    # ---- step actions -------------------------------------------------------------------

    async def _draft_action(self, actor: Actor, verb: str, data: Mapping[str, Any]) -> AdaptiveCard:
        item = await self._store.read(self._draft_key(actor.tenant_id))
        if item is None:
            return await self._settings(
                actor,
                Notice(
                    "This setup card is no longer active, so nothing was changed. "
                    "These are the current settings.",
                    "warning",
                ),
            )
        draft = Draft.from_json(item.value)
        if v.revision(data) != draft.rev:
            return self._stale(draft)
        if verb == verbs.SETUP_BACK and draft.step is Step.PERMISSIONS and draft.mode == "setup":
            # Back from the first step leaves the guide; the draft stays, to resume later.
            record = await self.current(actor.tenant_id)
            return messages.welcome_card(WelcomeView(actor.name, configured=record.version > 0))
        try:
            new, notice = await self._draft_actions[verb](draft, data, actor)
        except ValidationError as exc:
            return self.render(draft, Notice(exc.message, "error"))
        new = self._stamp(new, actor)
        try:
            await self._store.write(self._draft_key(actor.tenant_id), new.to_json(), etag=item.etag)
        except ConcurrencyError:
            latest = await self._store.read(self._draft_key(actor.tenant_id))
            if latest is None:
                return await self._settings(actor)
            return self._stale(Draft.from_json(latest.value))
        return self.render(new, notice)

    def _stale(self, draft: Draft) -> AdaptiveCard:
        who = draft.updated_by.name or "another administrator"
        when = draft.updated_at[11:16] + " UTC" if len(draft.updated_at) >= 16 else "recently"
        return self.render(
            draft,
            Notice(
                f"This card was out of date: {who} changed the setup at {when}. "
                "Nothing was changed. This is the current step.",
                "warning",
            ),
        )

    def _after(self, draft: Draft, step: Step) -> Step:
        return Step.REVIEW if draft.mode == "edit" else step

    async def _back(self, draft: Draft, data: Mapping[str, Any], actor: Actor) -> DraftResult:
        previous = {
            Step.EXCLUSIONS: Step.PERMISSIONS,
            Step.CONTACTS: Step.EXCLUSIONS,
            Step.TEAMS: Step.CONTACTS,
            Step.REVIEW: Step.TEAMS,
            Step.PERMISSIONS: Step.REVIEW if draft.mode == "edit" else Step.PERMISSIONS,
        }[draft.step]
        if draft.mode == "edit" and draft.step is not Step.REVIEW:
            previous = Step.REVIEW
        return draft.advance(step=previous), None

    async def _goto(self, draft: Draft, data: Mapping[str, Any], actor: Actor) -> DraftResult:
        try:
            step = Step(v.ident(data, "step", "step"))
        except ValueError:
            raise ValidationError("That step doesn't exist.") from None
        return draft.advance(step=step), None

    def _permissions(self, draft: Draft, data: Mapping[str, Any]) -> ServiceSettings:
        investigate = v.flag(
            data, "investigate", "Investigate incidents", default=draft.settings.investigate
        )
        respond = v.flag(data, "respond", "Respond directly", default=draft.settings.respond)
        if not (investigate or respond):
            raise ValidationError("Choose at least one access level for our experts.")
        return replace(draft.settings, investigate=investigate, respond=respond)

    async def _permissions_next(
        self, draft: Draft, data: Mapping[str, Any], actor: Actor
    ) -> DraftResult:
        settings = self._permissions(draft, data)
        return draft.advance(settings=settings, step=self._after(draft, Step.CONTACTS)), None

    async def _permissions_exclusions(
        self, draft: Draft, data: Mapping[str, Any], actor: Actor
    ) -> DraftResult:
        settings = self._permissions(draft, data)
        return draft.advance(settings=settings, step=Step.EXCLUSIONS), None

    # exclusions

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

    async def _search(
        self, tab: _Tab, draft: Draft, data: Mapping[str, Any], actor: Actor
    ) -> DraftResult:
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

    async def _add(
        self, tab: _Tab, draft: Draft, data: Mapping[str, Any], actor: Actor
    ) -> DraftResult:
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
            f"Added {_names(added)}. Select Next to confirm your exclusion list.", "good"
        )

    async def _remove(
        self, tab: _Tab, draft: Draft, data: Mapping[str, Any], actor: Actor
    ) -> DraftResult:
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

    async def _exclusions_next(
        self, draft: Draft, data: Mapping[str, Any], actor: Actor
    ) -> DraftResult:
        self._require_step(draft, Step.EXCLUSIONS)
        pending = self._pending(draft, data)
        return draft.advance(
            settings=replace(draft.settings, exclusions=pending),
            pending_exclusions=None,
            device_results=(),
            user_results=(),
            device_query="",
            user_query="",
            step=self._after(draft, Step.CONTACTS),
        ), None

    async def _exclusions_skip(
        self, draft: Draft, data: Mapping[str, Any], actor: Actor
    ) -> DraftResult:
        self._require_step(draft, Step.EXCLUSIONS)
        return draft.advance(
            pending_exclusions=None,
            device_results=(),
            user_results=(),
            device_query="",
            user_query="",
            step=self._after(draft, Step.CONTACTS),
        ), Notice("Exclusions added in that step were discarded.", "info")

    # contacts

    async def _contacts_search(
        self, draft: Draft, data: Mapping[str, Any], actor: Actor
    ) -> DraftResult:
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

    async def _contacts_add(
        self, draft: Draft, data: Mapping[str, Any], actor: Actor
    ) -> DraftResult:
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

    async def _contacts_remove(
        self, draft: Draft, data: Mapping[str, Any], actor: Actor
    ) -> DraftResult:
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

    async def _contacts_next(
        self, draft: Draft, data: Mapping[str, Any], actor: Actor
    ) -> DraftResult:
        self._require_step(draft, Step.CONTACTS)
        if not draft.settings.incident_contacts():
            raise ValidationError(
                "Add at least one Incident notification contact: we notify "
                "them about managed response actions."
            )
        return draft.advance(
            contact_results=(), contact_query="", step=self._after(draft, Step.TEAMS)
        ), None

    async def _teams_next(self, draft: Draft, data: Mapping[str, Any], actor: Actor) -> DraftResult:
        self._require_step(draft, Step.TEAMS)
        enabled = v.flag(
            data,
            "teams_enabled",
            "Communicate on Teams",
            default=draft.settings.communicate_on_teams,
        )
        settings = replace(draft.settings, communicate_on_teams=enabled)
        return draft.advance(settings=settings, step=Step.REVIEW), None

    # ---- rendering ----------------------------------------------------------------------

    def render(self, draft: Draft, notice: Notice | None) -> AdaptiveCard:
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
            return setup.teams_card(
                TeamsView(draft.rev, s.communicate_on_teams, draft.mode, notice)
            )
        return setup.review_card(ReviewView(draft.rev, self.sections(s), draft.mode, notice))

    @staticmethod
    def sections(s: ServiceSettings) -> tuple[Section, ...]:
        contacts = tuple(
            (c.purpose.label, " · ".join(x for x in (c.name, c.mail, c.phone) if x))
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
                    ("Device groups", _names(ex.device_groups) or "None"),
                    ("User groups", _names(ex.user_groups) or "None"),
                    ("Exclude all high-value devices", _on(ex.high_value_devices)),
                    ("Exclude all high-value users", _on(ex.high_value_users)),
                ),
            ),
            Section(Step.CONTACTS.value, "Notification contacts", contacts),
            Section(
                Step.TEAMS.value, "Teams", (("Communicate on Teams", _on(s.communicate_on_teams)),)
            ),
        )


def _options(groups: Sequence[Group]) -> tuple[Option, ...]:
    return tuple(Option(g.id, g.name) for g in groups)


def _merge(existing: Sequence[Group], added: Sequence[Group]) -> tuple[Group, ...]:
    seen = {g.id for g in existing}
    out = list(existing)
    for g in added:
        if g.id not in seen:
            seen.add(g.id)
            out.append(g)
    return tuple(out)


def _names(groups: Sequence[Group]) -> str:
    return ", ".join(g.name for g in groups)


def _no_match(what: str, query: str) -> str:
    return f"No {what} match “{query}”." if query else f"No {what} found."
