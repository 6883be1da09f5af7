"""The Teams provisioning saga: create the Defender Experts team and its Managed response channel,
install the app, wait for the bot's installation, and post a welcome message.

It starts when the settings are committed with **Communicate on Teams** turned on, and runs in
the background. Its state is stored after every step (:mod:`bot.provisioning.model`), so it
resumes after a restart from the step where it stopped, and every step is idempotent: stored
ids are checked before use, and the team and the channel are looked up by name before they
are created. The admin's progress card is updated in place at every step; a known failure
stops the saga with an actionable message and a Retry action.

Guarantees and limits:

* Never a second team, channel or installation: creates are never retried blindly (see
  :mod:`bot.graph.http`), a crash after ``POST /teams`` (or a lost answer) is recovered by
  finding the team's group by name, looking again for up to ``directory_lag`` seconds since a
  new group may not be listed yet, and the channel and the installation are looked up first.
* Only the team whose id it stored, or a *private* team found by its name, is used: a team by
  that name that isn't private (someone else's) stops the saga with a known failure.
* A failed creation's group is kept (``team_id``): Retry makes it the team rather than leave it
  orphaned and create another group by the same name.
* The welcome post is sent at least once: a crash right after posting it, before it is
  recorded, posts it again (the Bot Connector has no idempotency key).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bot.actions import Access, Actor, CardAction, CardRoute, Refusal, Routes, TeamInstallation
from bot.logsafe import safe
from bot.messaging import ChannelMessenger
from bot.onboarding.model import ServiceSettings, SettingsRecord
from bot.provisioning.failures import StepError
from bot.provisioning.model import (
    Status,
    Step,
    TeamsRecord,
    channel_reference,
    installation_key,
)
from bot.provisioning.ports import Exclusive, PostLimiter, TeamsProvisioner
from bot.provisioning.progress import DEFAULT_WAITING_HINT, ProgressActions, ProgressCards
from bot.provisioning.records import TeamsRecords
from bot.provisioning.runner import SagaRunner
from bot.provisioning.steps import SagaSteps
from bot.retry import RetryPolicy, Sleep
from bot.storage import Store
from bot.tenant import TenantDirectory
from cards.elements import AdaptiveCard
from cards.provisioning import VERB_PREFIX, ProgressView
from cards.views import Notice

__all__ = ["DEFAULT_WAITING_HINT", "DIRECTORY_LAG", "TRANSIENT_POLICY", "ProvisioningService"]

log = logging.getLogger(__name__)

TRANSIENT_POLICY = RetryPolicy(attempts=5, base_delay=5.0, max_delay=120.0)
PROGRESS_POST_TIMEOUT = 5.0
DIRECTORY_LAG = 600.0
"""How long a new team's group may take to be listed by name (Microsoft Entra ID is eventually
consistent) before the saga concludes that a create request whose answer was lost never ran."""


def _now() -> datetime:
    return datetime.now(UTC)


class ProvisioningService:
    """The saga's entry points: settings, installation events, card actions, and repairs asked
    for by notifications. The parts: :class:`~bot.provisioning.steps.SagaSteps` (what each step
    does), :class:`~bot.provisioning.runner.SagaRunner` (background tasks, retries, failures),
    :class:`~bot.provisioning.progress.ProgressCards` (the admin's card and its actions)."""

    def __init__(
        self,
        store: Store,
        provisioner: TeamsProvisioner,
        messenger: ChannelMessenger,
        directory: TenantDirectory,
        *,
        poll_seconds: float = 30.0,
        max_polls: int = 40,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], datetime] = _now,
        rand: Callable[[], float] = random.random,
        transient_policy: RetryPolicy = TRANSIENT_POLICY,
        waiting_hint: str = DEFAULT_WAITING_HINT,
        directory_lag: float = DIRECTORY_LAG,
        exclusive: Exclusive | None = None,
        limiter: PostLimiter | None = None,
    ) -> None:
        self._clock = clock
        self._records = TeamsRecords(store, clock)
        self._steps = SagaSteps(
            self._records,
            provisioner,
            messenger,
            sleep=sleep,
            clock=clock,
            poll_seconds=poll_seconds,
            max_polls=max_polls,
            directory_lag=directory_lag,
            limiter=limiter,
        )
        self._cards = ProgressCards(
            self._records, messenger, waiting_hint=waiting_hint, limiter=limiter
        )
        self._runner = SagaRunner(
            self._records,
            self._steps,
            self._cards.show,
            sleep=sleep,
            clock=clock,
            rand=rand,
            transient_policy=transient_policy,
            exclusive=exclusive,
        )
        self._actions = ProgressActions(self._records, self._cards, directory, self._runner.kick)

    async def record(self, tenant_id: str) -> TeamsRecord | None:
        return await self._records.get(tenant_id)

    def view(self, record: TeamsRecord, notice: Notice | None = None) -> ProgressView:
        return self._cards.view(record, notice)

    # ---- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Resume every saga that was running when the process stopped."""
        await self._runner.start()

    async def close(self) -> None:
        """Shut down: stop every saga (each resumes from its stored step on the next start)."""
        await self._runner.close()

    async def wait_idle(self) -> None:
        """Wait until no saga runs in this process."""
        await self._runner.wait_idle()

    async def run(self, tenant_id: str) -> TeamsRecord | None:
        """Run the saga from its stored step until it is ready, waits, or fails."""
        return await self._runner.run(tenant_id)

    # ---- entry points: settings, installation events, card actions ----------------------

    async def on_settings(
        self, tenant_id: str, record: SettingsRecord, previous: ServiceSettings, actor: Actor
    ) -> None:
        """Settings listener: start when Teams is turned on; stop posting when it is off."""
        now_on = record.settings.communicate_on_teams
        was_on = previous.communicate_on_teams
        if now_on and not was_on:
            await self.request(tenant_id, actor)
        elif was_on and not now_on:
            await self.disable(tenant_id)

    async def request(self, tenant_id: str, actor: Actor) -> None:
        """Turn Teams on: start (or resume, or re-check) the saga in the background."""
        tenant = tenant_id.lower()
        requested = {"id": actor.user_id, "name": actor.name}
        now = self._clock().isoformat()

        def change(current: TeamsRecord | None) -> TeamsRecord:
            if current is None:
                return TeamsRecord(tenant_id=tenant, requested_by=requested, requested_at=now)
            step = current.step
            if current.status in (Status.READY, Status.FAILED, Status.REMOVED):
                step = Step.CREATE_TEAM  # check every stored id again, repairing what's gone
            return current.evolve(
                enabled=True,
                status=Status.RUNNING,
                step=step,
                failure=None,
                operation_polls=0,
                requested_by=requested,
                requested_at=now,
            )

        await self._records.mutate(tenant, change)
        # The progress card is posted before the submission is answered, so that it follows
        # the admin's card in the chat; the saga itself runs in the background.
        try:
            await asyncio.wait_for(self._cards.post(tenant, actor), PROGRESS_POST_TIMEOUT)
        except TimeoutError:
            log.warning("posting the Teams progress card took too long; continuing without it")
        self._runner.kick(tenant)

    async def disable(self, tenant_id: str) -> None:
        """Turn Teams off: the team is kept, and nothing is posted there any more."""
        tenant = tenant_id.lower()
        await self._runner.cancel(tenant)
        record = await self._records.mutate(
            tenant, lambda r: None if r is None else r.evolve(enabled=False)
        )
        if record is not None:
            await self._cards.show(record)

    async def on_team_installation(self, event: TeamInstallation) -> None:
        """Team installation listener: record the event; resume a saga waiting for it."""
        try:
            await self._installed(event)
        except Exception:
            log.exception("could not record the bot's installation in team %s", safe(event.team_id))

    async def _installed(self, event: TeamInstallation) -> None:
        tenant = event.tenant_id.lower()
        keys = {k.lower() for k in (event.aad_group_id, event.team_id) if k}
        if not tenant or not keys:
            return
        document = {
            "teamId": event.team_id,
            "aadGroupId": event.aad_group_id,
            "teamName": event.team_name,
            "reference": event.reference,
            "added": event.added,
            "at": self._clock().isoformat(),
        }
        for key in sorted(keys):
            await self._records.store.write(installation_key(tenant, key), document, etag="*")
        current = await self._records.get(tenant)
        if current is None or not {current.team_id.lower(), current.team_thread_id.lower()} & keys:
            return

        def change(r: TeamsRecord | None) -> TeamsRecord | None:
            if r is None:
                return None
            if not event.added:
                if r.step < Step.AWAIT_INSTALLATION and r.status is not Status.READY:
                    return r
                return r.evolve(status=Status.REMOVED)
            changes: dict[str, Any] = {
                "team_reference": event.reference,
                "team_thread_id": event.team_id or r.team_thread_id,
            }
            if r.channel_id:
                changes["channel_reference"] = channel_reference(event.reference, r.channel_id)
            if r.status is Status.REMOVED:
                changes.update(status=Status.RUNNING, step=Step.AWAIT_INSTALLATION)
            return r.evolve(**changes)

        record = await self._records.mutate(tenant, change)
        if record is None:
            return
        if not event.added:
            await self._runner.cancel(tenant)
            await self._cards.show(record)
            log.warning("the bot was removed from the Defender Experts team")
        elif record.active:
            self._runner.kick(tenant)

    def routes(self) -> Routes:
        """Retry and Refresh on the progress card (tenant administrators), and the bot's
        installation in teams."""
        return Routes(
            cards=(CardRoute(VERB_PREFIX, self.on_card_action, Access.ADMIN),),
            team_listeners=(self.on_team_installation,),
            refused=self.refused,
        )

    async def refused(
        self, actor: Actor, refusal: Refusal, action: CardAction | None
    ) -> AdaptiveCard:
        return await self._actions.refused(actor, refusal)

    async def on_card_action(self, action: CardAction) -> AdaptiveCard:
        """Card actions ``provisioning.*``: Retry and Refresh on the admin's progress card."""
        return await self._actions.handle(action)

    # ---- notifications' entry point: repair on a failed delivery -------------------------

    async def report_delivery_failure(self, tenant_id: str, status: int | None) -> bool:
        """A post to the channel failed. If the team or the channel was deleted or archived,
        start repairing it (the saga runs again from the step that's needed) and return True."""
        if status not in (403, 404):
            return False
        run = await self._records.load(tenant_id)
        if run is None or not run.rec.enabled or run.rec.status is not Status.READY:
            return False
        try:
            step = await self._steps.diagnose(run.rec)
        except StepError as exc:
            log.warning("could not check the Managed response channel: %s", safe(exc, 300))
            return False
        if step is None:
            return False
        await self._steps.restart_at(run, step)
        self._runner.kick(tenant_id.lower())
        return True
