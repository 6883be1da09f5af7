"""The admin's progress card: posted in the personal chat when Teams is turned on, updated in
place at every step, and its actions (Retry, Refresh)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from bot.actions import Actor, CardAction, Refusal
from bot.conversations import conversation_key, personal_chat_key
from bot.logsafe import safe
from bot.messaging import ChannelMessenger, DeliveryError
from bot.provisioning.model import Progress, Status, Step, TeamsRecord
from bot.provisioning.ports import PostLimiter
from bot.provisioning.records import TeamsRecords
from bot.tenant import ADMIN_ROLE_NAMES, TenantDirectory
from cards import to_json
from cards import verbs as setup_verbs
from cards.elements import AdaptiveCard
from cards.messages import message_card, not_authorized_card
from cards.provisioning import (
    REFRESH,
    RETRY,
    Phase,
    ProgressView,
    StepLine,
    StepState,
    progress_card,
)
from cards.views import MessageView, NotAuthorizedView, Notice

log = logging.getLogger(__name__)

DEFAULT_WAITING_HINT = (
    "Teams adds the bot to the team a few moments after the app is installed. This card "
    "updates when it does."
)
_PHASES: dict[Status, Phase] = {
    Status.RUNNING: "running",
    Status.WAITING: "waiting",
    Status.READY: "ready",
    Status.FAILED: "failed",
    Status.REMOVED: "removed",
}
_CURRENT: dict[Phase, StepState] = {"running": "current", "waiting": "waiting", "failed": "failed"}


def progress_view(
    record: TeamsRecord, notice: Notice | None = None, *, waiting_hint: str = DEFAULT_WAITING_HINT
) -> ProgressView:
    """What the progress card shows of the stored record."""
    phase: Phase = _PHASES[record.status] if record.enabled else "off"
    lines = []
    for step in Step:
        state: StepState
        if phase == "ready" or step < record.step:
            state = "done"
        elif step > record.step:
            state = "pending"
        else:
            state = _CURRENT.get(phase, "pending")
        lines.append(StepLine(int(step), step.title, state))
    failure = record.failure
    return ProgressView(
        steps=tuple(lines),
        current=int(record.step),
        phase=phase,
        team_name=record.team_name,
        channel_name=record.channel_name,
        channel_url=record.channel_url,
        failure_title=failure.title if failure else "",
        failure_text=failure.message if failure else "",
        permissions=failure.permissions if failure else (),
        hint=waiting_hint if phase == "waiting" else "",
        notice=notice,
    )


class ProgressCards:
    """Posts and updates the admin's progress card."""

    def __init__(
        self,
        records: TeamsRecords,
        messenger: ChannelMessenger,
        *,
        waiting_hint: str = DEFAULT_WAITING_HINT,
        limiter: PostLimiter | None = None,
    ) -> None:
        self._records = records
        self._messenger = messenger
        self._waiting_hint = waiting_hint
        self._limiter = limiter

    def _slot(self, tenant: str, reference: dict[str, Any]) -> AbstractAsyncContextManager[None]:
        """The personal chat's slot of Teams' per-thread limits: the steps of a saga can follow
        each other within milliseconds, and each one updates the card."""
        if self._limiter is None:
            return contextlib.nullcontext()
        thread = str((reference.get("conversation") or {}).get("id", ""))
        return self._limiter.slot(tenant, thread)

    def view(self, record: TeamsRecord, notice: Notice | None = None) -> ProgressView:
        return progress_view(record, notice, waiting_hint=self._waiting_hint)

    def card(self, record: TeamsRecord, notice: Notice | None = None) -> AdaptiveCard:
        return progress_card(self.view(record, notice))

    async def post(self, tenant: str, actor: Actor) -> None:
        """Post the card in the admin's personal chat, and remember where it is."""
        reference = await self._admin_reference(tenant, actor.user_id)
        record = await self._records.get(tenant)
        if reference is None or record is None:
            log.info("no personal chat with the admin is known: no progress card")
            return
        try:
            async with self._slot(tenant, reference):
                activity_id = await self._messenger.send(reference, card=to_json(self.card(record)))
        except DeliveryError as exc:
            log.warning("could not post the Teams progress card: %s", safe(exc))
            return
        progress = Progress(reference, activity_id)
        await self._records.mutate(
            tenant, lambda r: None if r is None else r.evolve(progress=progress)
        )

    async def _admin_reference(self, tenant: str, user_id: str) -> dict[str, Any] | None:
        """The admin's personal chat with the bot, as the transport keeps it per user."""
        item = await self._records.store.read(personal_chat_key(tenant, user_id))
        return None if item is None else dict(item.value)

    async def show(self, record: TeamsRecord) -> None:
        """Update the card in place (if one was posted) to what the record says now."""
        if record.progress is None:
            return
        try:
            async with self._slot(record.tenant_id, record.progress.reference):
                await self._messenger.update(
                    record.progress.reference,
                    record.progress.activity_id,
                    card=to_json(self.card(record)),
                )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("could not update the Teams progress card: %s", safe(exc))

    async def acted_on(self, action: CardAction, record: TeamsRecord) -> Progress | None:
        """The card acted on, so that later updates replace it in place."""
        if not action.message_id or not action.conversation_id:
            return None
        item = await self._records.store.read(conversation_key(action.conversation_id))
        if item is not None:
            return Progress(dict(item.value), action.message_id)
        old = record.progress
        if old and (old.reference.get("conversation") or {}).get("id") == action.conversation_id:
            return Progress(old.reference, action.message_id)
        return None


class ProgressActions:
    """The card's actions, ``provisioning.*``: Retry and Refresh."""

    def __init__(
        self,
        records: TeamsRecords,
        cards: ProgressCards,
        directory: TenantDirectory,
        kick: Callable[[str], None],
    ) -> None:
        self._records = records
        self._cards = cards
        self._directory = directory
        self._kick = kick

    async def refused(self, actor: Actor, refusal: Refusal) -> AdaptiveCard:
        """The card for an actor the router's guard refused: only an administrator changes the
        Teams setup (the progress card says so, if there is one), or the directory couldn't
        say who is one."""
        tenant = actor.tenant_id.lower()
        record = await self._records.get(tenant) if tenant else None
        if refusal.reason == "unavailable":
            # Say what's missing (a permission to read roles, say), not "not an administrator".
            text = f"{refusal.advice} Nothing was changed."
            if record is None:
                return message_card(MessageView(title="Microsoft Teams", text=text))
            return self._cards.card(record, Notice(text, "warning"))
        if record is None or refusal.reason == "outside":
            return not_authorized_card(NotAuthorizedView(ADMIN_ROLE_NAMES, actor.name))
        roles = " or ".join(ADMIN_ROLE_NAMES)
        return self._cards.card(
            record, Notice(f"Only a {roles} can change the Teams setup. Nothing was changed.")
        )

    async def handle(self, action: CardAction) -> AdaptiveCard:
        """Retry or Refresh; the router's guard has checked that the actor is an administrator
        of the served tenant."""
        tenant = action.actor.tenant_id.lower()
        record = await self._records.get(tenant)
        if record is None:
            return message_card(
                MessageView(
                    title="Microsoft Teams",
                    text="Teams communication isn't set up. Turn on Communicate on Teams in the "
                    "settings to create the Defender Experts team.",
                    actions=((setup_verbs.SETTINGS_SHOW, "View settings"),),
                )
            )
        progress = await self._cards.acted_on(action, record)
        if action.verb == RETRY and record.enabled:

            def retry(r: TeamsRecord | None) -> TeamsRecord | None:
                if r is None:
                    return None
                changes: dict[str, Any] = {"progress": progress or r.progress}
                if r.status is Status.FAILED:
                    changes.update(status=Status.RUNNING, failure=None, operation_polls=0)
                elif r.status is Status.REMOVED:
                    changes.update(status=Status.RUNNING, step=Step.INSTALL_APP)
                return r.evolve(**changes)

            record = await self._records.mutate(tenant, retry) or record
            if record.active:
                self._kick(tenant)
        elif action.verb == REFRESH and record.enabled:
            if progress is not None:
                record = (
                    await self._records.mutate(
                        tenant, lambda r: None if r is None else r.evolve(progress=progress)
                    )
                    or record
                )
            if record.active:
                self._kick(tenant)
        notice = None
        if not record.enabled:
            notice = Notice("Teams communication is off, so nothing was changed.", "info")
        return self._cards.card(record, notice)
