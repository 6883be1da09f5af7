"""The setup guide and settings: plain async logic behind the card dialogs.

Every action is checked against the draft revision it was rendered from and the tenant directory
(the router's guard has checked the caller's tenant and role before). A refused action returns
the current card with an inline message and leaves stored state unchanged. The steps live in
:mod:`bot.onboarding.steps`, who may act in :mod:`bot.onboarding.authorization`, and how it
looks in :mod:`bot.onboarding.rendering`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol

from bot.actions import Access, Actor, CardAction, CardRoute, CommandRoute, Routes
from bot.errors import ConcurrencyError, DependencyError, ValidationError
from bot.onboarding import authorization as auth
from bot.onboarding import rendering
from bot.onboarding import validation as v
from bot.onboarding.model import (
    AuditEntry,
    Draft,
    Person,
    ServiceSettings,
    SettingsRecord,
    Step,
    diff_settings,
)
from bot.onboarding.rendering import render
from bot.onboarding.steps import GuideSteps
from bot.storage import Item, Store
from bot.tenant import TenantDirectory
from cards import messages, setup, verbs
from cards.elements import AdaptiveCard
from cards.views import Notice, SubmittedView, WelcomeView

log = logging.getLogger(__name__)

AUDIT_KEEP = 500


_PARSED_KEEP = 64
"""Parsed settings records kept (one per served tenant)."""


class SettingsListener(Protocol):
    """Called after settings are committed (provisioning, contact emails)."""

    async def __call__(
        self, tenant_id: str, record: SettingsRecord, previous: ServiceSettings, actor: Actor
    ) -> None: ...


def _now() -> datetime:
    return datetime.now(UTC)


def _person(actor: Actor) -> Person:
    return Person(actor.user_id, actor.name)


class OnboardingService:
    """The setup guide over a Store and a TenantDirectory: its routes, drafts and commits."""

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
        self._steps = GuideSteps(directory)
        self._parsed: dict[str, tuple[str, SettingsRecord]] = {}
        self._card_actions: dict[str, Callable[[Actor, Any], Awaitable[AdaptiveCard]]] = {
            verbs.SETUP_START: lambda actor, _data: self._start(actor),
            verbs.SUBMIT: self._submit,
            verbs.SETTINGS_SHOW: lambda actor, _data: self._settings(actor),
            verbs.SETTINGS_EDIT: self._edit,
        }

    def add_listener(self, listener: SettingsListener) -> None:
        self._listeners.append(listener)

    @property
    def directory(self) -> TenantDirectory:
        return self._directory

    def routes(self) -> Routes:
        """The guide's card verbs and commands, for the router."""
        handle = self.on_card_action
        return Routes(
            cards=tuple(
                CardRoute(prefix, self._help_action if prefix == verbs.HELP else handle, access)
                for prefix, access in auth.CARD_ACCESS.items()
            ),
            commands=(
                CommandRoute(auth.START_COMMANDS, self._start_command, Access.ADMIN),
                CommandRoute(auth.SETTINGS_COMMANDS, self._settings_command, Access.ADMIN),
                CommandRoute(auth.HELP_COMMANDS, self._help_command, Access.ANYONE),
            ),
            welcome=self.welcome,
            refused=auth.refused,
        )

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

    async def help_for(self, actor: Actor, notice: Notice | None = None) -> AdaptiveCard:
        """The help card, offering the settings once the tenant's setup is done."""
        record = await self.current(actor.tenant_id)
        return rendering.help_card(notice, configured=record.version > 0)

    async def unrecognized_card(self, action: CardAction) -> AdaptiveCard:
        """The answer to a card verb no service registered."""
        return await self.help_for(
            action.actor,
            Notice(
                "That action isn't recognized, so nothing was changed. Here is what I can do.",
                "error",
            ),
        )

    async def unrecognized_text(self, actor: Actor, text: str) -> AdaptiveCard:
        """The answer to text that is no command: the commands, with a note if text was typed."""
        return await self.help_for(
            actor,
            Notice("I didn't recognize that. Here is what I can do.", "info") if text else None,
        )

    async def _help_action(self, action: CardAction) -> AdaptiveCard:
        return await self.help_for(action.actor)

    async def _help_command(self, actor: Actor, args: str) -> AdaptiveCard:
        return await self.help_for(actor)

    async def _start_command(self, actor: Actor, args: str) -> AdaptiveCard:
        return await self._answering(lambda: self._start(actor))

    async def _settings_command(self, actor: Actor, args: str) -> AdaptiveCard:
        return await self._answering(lambda: self._settings(actor))

    async def on_card_action(self, action: CardAction) -> AdaptiveCard:
        """Handle one Universal Action of the guide. ``verb`` and ``data`` are untrusted."""
        actor, verb = action.actor, action.verb
        data = dict(action.data) if isinstance(action.data, Mapping) else {}
        if verb in self._steps.actions:
            return await self._answering(lambda: self._draft_action(actor, verb, data))
        other = self._card_actions.get(verb)
        if other is None:
            return await self.unrecognized_card(action)
        return await self._answering(lambda: other(actor, data))

    async def _answering(self, fn: Callable[[], Awaitable[AdaptiveCard]]) -> AdaptiveCard:
        try:
            return await fn()
        except DependencyError as exc:
            log.warning("directory unavailable during a setup action: %s", exc)
            return rendering.unavailable(exc.advice())

    async def current(self, tenant_id: str) -> SettingsRecord:
        key = self._settings_key(tenant_id)
        # Every accepted notification asks for the settings: while the stored version's ETag is
        # the one of the record parsed last (immutable), only the ETag is read, from the store
        # as always, so a change another instance committed is seen by the next request.
        cached = self._parsed.get(key)
        if cached is not None and await self._store.etag(key) == cached[0]:
            return cached[1]
        item = await self._store.read(key)
        if item is None:
            return SettingsRecord(version=0, settings=ServiceSettings())
        record = SettingsRecord.from_json(item.value)
        if len(self._parsed) >= _PARSED_KEEP:
            self._parsed.clear()
        self._parsed[key] = (item.etag, record)
        return record

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
        return replace(draft, updated_by=_person(actor), updated_at=self._clock().isoformat())

    # ---- whole-guide actions ------------------------------------------------------------

    async def _start(self, actor: Actor) -> AdaptiveCard:
        _, record, draft_item = await self._load(actor.tenant_id)
        if draft_item is not None:
            draft = Draft.from_json(draft_item.value)
            if draft.base_version == record.version:
                who = draft.updated_by.name or "another administrator"
                return render(draft, Notice(f"Resuming the setup where {who} left off.", "info"))
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
        return render(draft, None)

    async def _edit(self, actor: Actor, data: dict[str, Any]) -> AdaptiveCard:
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
        return render(draft, notice)

    async def _settings(self, actor: Actor, notice: Notice | None = None) -> AdaptiveCard:
        return rendering.settings_card(await self.current(actor.tenant_id), notice)

    async def _submit(self, actor: Actor, data: dict[str, Any]) -> AdaptiveCard:
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
            return rendering.stale(draft)
        if draft.base_version != record.version:
            last = record.audit[-1] if record.audit else None
            who = last.by.name if last else "another administrator"
            rebased = self._stamp(
                draft.advance(base_version=record.version, step=Step.REVIEW), actor
            )
            await self._store.write(
                self._draft_key(actor.tenant_id), rebased.to_json(), etag=draft_item.etag
            )
            return render(
                rebased,
                notice=Notice(
                    f"{who} saved other settings (version {record.version}) after this draft was "
                    "started. Check the summary below, then submit again to replace them.",
                    "warning",
                ),
                saved=record.settings if rebased.mode == "edit" else None,
            )
        problem = self._incomplete(draft.settings)
        if problem:
            return render(
                draft,
                Notice(problem, "error"),
                record.settings if draft.mode == "edit" and draft.step is Step.REVIEW else None,
            )
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
            audit=(*record.audit, AuditEntry(record.version + 1, _person(actor), now, changes))[
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
            return rendering.stale(draft)
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
        # One step per tenant, not per stored key: a tenant has thousands of incidents.
        for tenant_id in await self._store.list_segments("tenants/"):
            item = await self._store.read(f"tenants/{tenant_id}/settings")
            if item is None:
                continue
            record = SettingsRecord.from_json(item.value)
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

    async def _draft_action(self, actor: Actor, verb: str, data: dict[str, Any]) -> AdaptiveCard:
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
            return rendering.stale(draft)
        if verb == verbs.SETUP_BACK and draft.step is Step.PERMISSIONS and draft.mode == "setup":
            # Back from the first step leaves the guide; the draft stays, to resume later.
            record = await self.current(actor.tenant_id)
            return messages.welcome_card(WelcomeView(actor.name, configured=record.version > 0))
        try:
            new, notice = await self._steps.actions[verb](draft, data)
        except ValidationError as exc:
            saved = await self._saved(actor, draft)
            return render(draft, Notice(exc.message, "error"), saved)
        new = self._stamp(new, actor)
        try:
            await self._store.write(self._draft_key(actor.tenant_id), new.to_json(), etag=item.etag)
        except ConcurrencyError:
            latest = await self._store.read(self._draft_key(actor.tenant_id))
            if latest is None:
                return await self._settings(actor)
            return rendering.stale(Draft.from_json(latest.value))
        return render(new, notice, await self._saved(actor, new))

    async def _saved(self, actor: Actor, draft: Draft) -> ServiceSettings | None:
        """The saved settings an edit's review compares with (None elsewhere)."""
        if draft.mode != "edit" or draft.step is not Step.REVIEW:
            return None
        return (await self.current(actor.tenant_id)).settings
