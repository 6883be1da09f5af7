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
import contextlib
import logging
import math
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from microsoft_teams.cards.core import AdaptiveCard

from bot.actions import Access, Actor, CardAction, CardRoute, Refusal, Routes, TeamInstallation
from bot.conversations import personal_chat_key
from bot.errors import ConcurrencyError
from bot.graph.errors import (
    GraphCertificateError,
    GraphConflict,
    GraphError,
    GraphForbidden,
    GraphNotFound,
)
from bot.logsafe import safe
from bot.messaging import ChannelMessenger, DeliveryError
from bot.onboarding.model import ServiceSettings, SettingsRecord
from bot.provisioning import failures
from bot.provisioning.failures import KnownFailure, StepError, classify
from bot.provisioning.model import (
    CHANNEL_DESCRIPTION,
    TEAM_DESCRIPTION,
    Failure,
    Progress,
    Status,
    Step,
    TeamsRecord,
    channel_reference,
    installation_key,
    teams_key,
)
from bot.provisioning.ports import TeamInfo, TeamsProvisioner
from bot.provisioning.target import ChannelTarget, target_of
from bot.retry import RetryPolicy, Sleep
from bot.storage import Store
from bot.tenant import ADMIN_ROLE_NAMES, TenantDirectory
from cards import to_json
from cards import verbs as setup_verbs
from cards.messages import message_card, not_authorized_card
from cards.provisioning import (
    REFRESH,
    RETRY,
    VERB_PREFIX,
    Phase,
    ProgressView,
    StepLine,
    StepState,
    WelcomePostView,
    progress_card,
    welcome_post_card,
)
from cards.views import MessageView, NotAuthorizedView, Notice

log = logging.getLogger(__name__)

DEFAULT_WAITING_HINT = (
    "Teams adds the bot to the team a few moments after the app is installed. This card "
    "updates when it does."
)
TRANSIENT_POLICY = RetryPolicy(attempts=5, base_delay=5.0, max_delay=120.0)
MAX_REPAIRS = 2
PROGRESS_POST_TIMEOUT = 5.0
DIRECTORY_LAG = 600.0
"""How long a new team's group may take to be listed by name (Microsoft Entra ID is eventually
consistent) before the saga concludes that a create request whose answer was lost never ran."""
_PHASES: dict[Status, Phase] = {
    Status.RUNNING: "running",
    Status.WAITING: "waiting",
    Status.READY: "ready",
    Status.FAILED: "failed",
    Status.REMOVED: "removed",
}
_CURRENT: dict[Phase, StepState] = {"running": "current", "waiting": "waiting", "failed": "failed"}


def _now() -> datetime:
    return datetime.now(UTC)


class _Run:
    """One pass over the stored record: the record, its ETag, and compare-and-swap saves."""

    def __init__(self, service: ProvisioningService, record: TeamsRecord, etag: str) -> None:
        self.service = service
        self.rec = record
        self.etag = etag

    async def save(self, **changes: Any) -> None:
        record = self.rec.evolve(**changes, updated_at=self.service._clock().isoformat())
        self.etag = await self.service._store.write(
            teams_key(record.tenant_id), record.to_json(), etag=self.etag
        )
        self.rec = record


class ProvisioningService:
    """Runs the saga per tenant, one background task at a time, and answers its card actions."""

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
    ) -> None:
        self._store = store
        self._provisioner = provisioner
        self._messenger = messenger
        self._directory = directory
        self._poll_seconds = poll_seconds
        self._max_polls = max_polls
        self._sleep = sleep
        self._clock = clock
        self._rand = rand
        self._transient = transient_policy
        self._waiting_hint = waiting_hint
        # Name lookups after a lost create answer: directory_lag seconds of them at the poll
        # interval (or max_polls when polls aren't waited out).
        self._lag_lookups = (
            max(1, math.ceil(directory_lag / poll_seconds)) if poll_seconds > 0 else max_polls
        )
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()
        self._steps: dict[Step, Callable[[_Run], Awaitable[bool]]] = {
            Step.CREATE_TEAM: self._create_team,
            Step.ENSURE_CHANNEL: self._ensure_channel,
            Step.INSTALL_APP: self._install_app,
            Step.AWAIT_INSTALLATION: self._await_installation,
            Step.WELCOME: self._welcome,
        }

    # ---- storage ------------------------------------------------------------------------

    async def record(self, tenant_id: str) -> TeamsRecord | None:
        item = await self._store.read(teams_key(tenant_id))
        return None if item is None else TeamsRecord.from_json(item.value)

    async def _load(self, tenant_id: str) -> _Run | None:
        item = await self._store.read(teams_key(tenant_id))
        if item is None:
            return None
        return _Run(self, TeamsRecord.from_json(item.value), item.etag)

    async def _mutate(
        self,
        tenant_id: str,
        change: Callable[[TeamsRecord | None], TeamsRecord | None],
    ) -> TeamsRecord | None:
        """Read, change and write the record, again if someone else wrote in between."""
        for _ in range(20):
            item = await self._store.read(teams_key(tenant_id))
            current = None if item is None else TeamsRecord.from_json(item.value)
            new = change(current)
            if new is None or new == current:
                return current
            new = new.evolve(updated_at=self._clock().isoformat())
            try:
                await self._store.write(
                    teams_key(tenant_id), new.to_json(), etag=None if item is None else item.etag
                )
            except ConcurrencyError:
                continue
            return new
        raise ConcurrencyError("the Teams record kept changing")

    async def delivery_target(self, tenant_id: str) -> ChannelTarget | None:
        """The Managed response channel to post in, or None (Teams off, or not ready)."""
        record = await self.record(tenant_id)
        return None if record is None else target_of(record)

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

        await self._mutate(tenant, change)
        # The progress card is posted before the submission is answered, so that it follows
        # the admin's card in the chat; the saga itself runs in the background.
        try:
            await asyncio.wait_for(self._post_progress(tenant, actor), PROGRESS_POST_TIMEOUT)
        except TimeoutError:
            log.warning("posting the Teams progress card took too long; continuing without it")
        self._kick(tenant)

    async def disable(self, tenant_id: str) -> None:
        """Turn Teams off: the team is kept, and nothing is posted there any more."""
        tenant = tenant_id.lower()
        await self._cancel(tenant)
        record = await self._mutate(
            tenant, lambda r: None if r is None else r.evolve(enabled=False)
        )
        if record is not None:
            await self._show(record)

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
            await self._store.write(installation_key(tenant, key), document, etag="*")
        current = await self.record(tenant)
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

        record = await self._mutate(tenant, change)
        if record is None:
            return
        if not event.added:
            await self._cancel(tenant)
            await self._show(record)
            log.warning("the bot was removed from the Defender Experts team")
        elif record.enabled and record.status in (Status.RUNNING, Status.WAITING):
            self._kick(tenant)

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
        """Only an administrator changes the Teams setup: the progress card says so, if any."""
        tenant = self._directory.tenant_id.lower()
        record = await self.record(tenant) if refusal.reason != "outside" else None
        if record is None:
            return not_authorized_card(NotAuthorizedView(ADMIN_ROLE_NAMES, actor.name))
        roles = " or ".join(ADMIN_ROLE_NAMES)
        return progress_card(
            self.view(
                record,
                Notice(f"Only a {roles} can change the Teams setup. Nothing was changed."),
            )
        )

    async def on_card_action(self, action: CardAction) -> AdaptiveCard:
        """Card actions ``provisioning.*``: Retry and Refresh on the admin's progress card.
        The router's guard has checked that the actor is an administrator of the served tenant."""
        tenant = action.actor.tenant_id.lower()
        record = await self.record(tenant)
        if record is None:
            return message_card(
                MessageView(
                    title="Microsoft Teams",
                    text="Teams communication isn't set up. Turn on Communicate on Teams in the "
                    "settings to create the Defender Experts team.",
                    actions=((setup_verbs.SETTINGS_SHOW, "View settings"),),
                )
            )
        progress = await self._progress_of(action, record)
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

            record = await self._mutate(tenant, retry) or record
            if record.status in (Status.RUNNING, Status.WAITING):
                self._kick(tenant)
        elif action.verb == REFRESH and record.enabled:
            if progress is not None:
                record = (
                    await self._mutate(
                        tenant, lambda r: None if r is None else r.evolve(progress=progress)
                    )
                    or record
                )
            if record.status in (Status.RUNNING, Status.WAITING):
                self._kick(tenant)
        notice = None
        if not record.enabled:
            notice = Notice("Teams communication is off, so nothing was changed.", "info")
        return progress_card(self.view(record, notice))

    async def _progress_of(self, action: CardAction, record: TeamsRecord) -> Progress | None:
        """The card acted on, so that later updates replace it in place."""
        if not action.message_id or not action.conversation_id:
            return None
        item = await self._store.read(f"conversations/{action.conversation_id}/reference")
        if item is not None:
            return Progress(dict(item.value), action.message_id)
        old = record.progress
        if old and (old.reference.get("conversation") or {}).get("id") == action.conversation_id:
            return Progress(old.reference, action.message_id)
        return None

    # ---- notifications' entry point: repair on a failed delivery -------------------------

    async def report_delivery_failure(self, tenant_id: str, status: int | None) -> bool:
        """A post to the channel failed. If the team or the channel was deleted or archived,
        start repairing it (the saga runs again from the step that's needed) and return True."""
        if status not in (403, 404):
            return False
        run = await self._load(tenant_id)
        if run is None or not run.rec.enabled or run.rec.status is not Status.READY:
            return False
        try:
            step = await self._diagnose(run.rec)
        except StepError as exc:
            log.warning("could not check the Managed response channel: %s", safe(exc, 300))
            return False
        if step is None:
            return False
        await self._restart_at(run, step)
        self._kick(tenant_id.lower())
        return True

    async def _diagnose(self, record: TeamsRecord) -> Step | None:
        """Where the saga must start again: the team or the channel is gone or archived."""
        provisioner = self._provisioner
        team = await self._call("get_team", provisioner.get_team(record.team_id))
        if team is None or team.archived:
            return Step.CREATE_TEAM
        channel = await self._call(
            "get_channel", provisioner.get_channel(record.team_id, record.channel_id)
        )
        if channel is None or channel.archived:
            return Step.ENSURE_CHANNEL
        return None

    async def _restart_at(self, run: _Run, step: Step) -> None:
        log.warning("repairing the Defender Experts team from step %d", int(step))
        changes: dict[str, Any] = {"status": Status.RUNNING, "step": step, "failure": None}
        if step is Step.CREATE_TEAM:
            team = await self._call("get_team", self._provisioner.get_team(run.rec.team_id))
            if team is None:
                changes.update(_forget_team())
        await run.save(**changes)

    # ---- background tasks ----------------------------------------------------------------

    async def start(self) -> None:
        """Resume every saga that was running when the process stopped."""
        for key in await self._store.list_keys("tenants/"):
            if not key.endswith("/teams"):
                continue
            item = await self._store.read(key)
            if item is None:
                continue
            record = TeamsRecord.from_json(item.value)
            if record.enabled and record.status in (Status.RUNNING, Status.WAITING):
                self._kick(record.tenant_id.lower() or key.split("/")[1])

    async def close(self) -> None:
        """Shut down: stop every saga (each resumes from its stored step on the next start)."""
        self._again.clear()
        for task in self._tasks.values():
            task.cancel()
        await self.wait_idle()

    async def wait_idle(self) -> None:
        """Wait until no saga runs in this process: each is ready, waiting for Teams' event,
        stopped with a failure, or cancelled by :meth:`close`."""
        while True:
            running = {t for t in self._tasks.values() if not t.done()}
            if not running:
                return
            done, _ = await asyncio.wait(running)
            for task in done:
                if not task.cancelled():
                    task.exception()  # retrieved: _background has logged what matters

    def _kick(self, tenant: str) -> None:
        task = self._tasks.get(tenant)
        if task is not None and not task.done():
            self._again.add(tenant)
            return
        self._tasks[tenant] = asyncio.get_running_loop().create_task(
            self._background(tenant), name=f"provisioning {tenant}"
        )

    async def _cancel(self, tenant: str) -> None:
        task = self._tasks.pop(tenant, None)
        self._again.discard(tenant)
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _background(self, tenant: str) -> None:
        try:
            while True:
                self._again.discard(tenant)
                await self.run(tenant)
                if tenant not in self._again:
                    return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("Teams provisioning stopped unexpectedly")
        finally:
            if self._tasks.get(tenant) is asyncio.current_task():
                del self._tasks[tenant]

    # ---- the admin's progress card ---------------------------------------------------------

    async def _post_progress(self, tenant: str, actor: Actor) -> None:
        reference = await self._admin_reference(tenant, actor.user_id)
        record = await self.record(tenant)
        if reference is None or record is None:
            log.info("no personal chat with the admin is known: no progress card")
            return
        try:
            activity_id = await self._messenger.send(
                reference, card=to_json(progress_card(self.view(record)))
            )
        except DeliveryError as exc:
            log.warning("could not post the Teams progress card: %s", safe(exc))
            return
        progress = Progress(reference, activity_id)
        await self._mutate(tenant, lambda r: None if r is None else r.evolve(progress=progress))

    async def _admin_reference(self, tenant: str, user_id: str) -> dict[str, Any] | None:
        """The admin's personal chat with the bot, as the transport keeps it per user."""
        item = await self._store.read(personal_chat_key(tenant, user_id))
        return None if item is None else dict(item.value)

    async def _show(self, record: TeamsRecord) -> None:
        if record.progress is None:
            return
        try:
            await self._messenger.update(
                record.progress.reference,
                record.progress.activity_id,
                card=to_json(progress_card(self.view(record))),
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("could not update the Teams progress card: %s", safe(exc))

    def view(self, record: TeamsRecord, notice: Notice | None = None) -> ProgressView:
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
            hint=self._waiting_hint if phase == "waiting" else "",
            notice=notice,
        )

    # ---- the saga ----------------------------------------------------------------------

    async def run(self, tenant_id: str) -> TeamsRecord | None:
        """Run the saga from its stored step until it is ready, waits, or fails."""
        tenant = tenant_id.lower()
        transient = 0
        repairs = 0
        while True:
            run = await self._load(tenant)
            if run is None:
                return None
            if not run.rec.enabled or run.rec.status not in (Status.RUNNING, Status.WAITING):
                return run.rec
            step = run.rec.step
            try:
                more = await self._steps[step](run)
            except ConcurrencyError:
                continue
            except _Repair as repair:
                repairs += 1
                if repairs > MAX_REPAIRS:
                    await self._fail(run, classify(repair.cause, int(step)).failure)
                    return run.rec
                continue
            except Exception as exc:
                verdict = classify(exc, int(step))
                if not isinstance(exc, StepError | KnownFailure):
                    log.exception("Teams provisioning step %d failed", int(step))
                if verdict.retryable and transient + 1 < self._transient.attempts:
                    transient += 1
                    delay = self._transient.delay(transient, _retry_after(exc), self._rand)
                    log.warning(
                        "Teams provisioning step %d: %s; trying again in %.0fs",
                        int(step),
                        safe(exc, 300),
                        delay,
                    )
                    await self._sleep(delay)
                    continue
                await self._fail(run, verdict.failure)
                return run.rec
            transient = 0
            await self._show(run.rec)
            if not more:
                return run.rec

    async def _fail(self, run: _Run, failure: Failure) -> None:
        stamped = Failure(
            kind=failure.kind,
            title=failure.title,
            message=failure.message,
            permissions=failure.permissions,
            step=failure.step,
            request_id=failure.request_id,
            at=self._clock().isoformat(),
        )
        log.warning(
            "Teams provisioning stopped at step %d: %s%s",
            failure.step,
            failure.kind,
            f" (request-id {failure.request_id})" if failure.request_id else "",
        )
        try:
            await run.save(status=Status.FAILED, failure=stamped)
        except ConcurrencyError:
            record = await self._mutate(
                run.rec.tenant_id,
                lambda r: None if r is None else r.evolve(status=Status.FAILED, failure=stamped),
            )
            if record is not None:
                run.rec = record
        await self._show(run.rec)

    async def _call(self, name: str, pending: Awaitable[Any]) -> Any:
        try:
            return await pending
        except (GraphError, DeliveryError) as exc:
            raise StepError(name, exc) from exc

    # step 1

    async def _create_team(self, run: _Run) -> bool:
        provisioner = self._provisioner
        record = run.rec
        if record.team_id:
            team = await self._call("get_team", provisioner.get_team(record.team_id))
            if team is not None:
                if team.archived:
                    await self._unarchive(run, "team")
                return await self._team_ready(run, record.team_id, team.thread_id)
            if record.operation:
                return await self._poll_creation(run)
            group = await self._call("get_group", provisioner.get_group(record.team_id))
            if group is None:
                log.warning("the Defender Experts team was deleted: creating it again")
                await run.save(**_forget_team())
            elif group.provisioned or record.create_requested_at:
                return await self._wait_for_team(run)
            else:
                # What a failed creation left: the group, without its team.
                return await self._team_from_group(run)
        found = await self._find_team(run)
        if found is not None and not found.private:
            # Someone else's team (or a public one): never post incidents there.
            raise KnownFailure(failures.team_not_private(int(Step.CREATE_TEAM)))
        if found is not None and found.provisioned:
            return await self._team_ready(run, found.id, found.thread_id)
        if found is not None:
            # A private group by that name, still without its team.
            await run.save(team_id=found.id, operation_polls=0)
            if run.rec.create_requested_at:
                # Our request was sent before a restart: its group exists, the team will follow.
                return await self._wait_for_team(run)
            return await self._team_from_group(run)
        owner = run.rec.requested_by.get("id", "")
        await run.save(create_requested_at=self._clock().isoformat(), operation_polls=0)
        try:
            creation = await self._call(
                "create_team", provisioner.create_team(run.rec.team_name, TEAM_DESCRIPTION, owner)
            )
        except StepError as exc:
            if _refused(exc):  # surely not created: no need to look for it before trying again
                await run.save(create_requested_at="")
            raise
        await run.save(
            team_id=creation.team_id,
            team_thread_id=creation.thread_id,
            operation=creation.operation,
            operation_polls=0,
        )
        if not creation.operation:
            return await self._team_ready(run, creation.team_id, creation.thread_id)
        return await self._poll_creation(run)

    async def _team_from_group(self, run: _Run) -> bool:
        """Make the stored group a team, rather than leave it behind and create another."""
        log.info("making the Defender Experts team's existing group a team")
        await run.save(create_requested_at=self._clock().isoformat(), operation_polls=0)
        try:
            creation = await self._call(
                "create_team_from_group", self._provisioner.create_team_from_group(run.rec.team_id)
            )
        except StepError as exc:
            if isinstance(exc.error, GraphConflict):  # it has its team, or one is on its way
                return await self._wait_for_team(run)
            if _refused(exc):
                await run.save(create_requested_at="")
            raise
        await run.save(operation=creation.operation, operation_polls=0)
        if not creation.operation:
            return await self._team_ready(run, run.rec.team_id, creation.thread_id)
        return await self._poll_creation(run)

    async def _find_team(self, run: _Run) -> TeamInfo | None:
        """Look the team up by name. After a create request whose answer was lost, its group can
        take a while to be listed (the directory is eventually consistent): keep looking, at the
        operation poll interval, before creating the team again. (A namesake that isn't private
        isn't ours: ours may just not be listed yet.)"""
        while True:
            found: TeamInfo | None = await self._call(
                "find_team", self._provisioner.find_team(run.rec.team_name)
            )
            if not run.rec.create_requested_at or (found is not None and found.private):
                return found
            if run.rec.operation_polls >= self._lag_lookups:
                if found is None:
                    log.warning(
                        "the team requested at %s never showed up: requesting it again",
                        run.rec.create_requested_at,
                    )
                await run.save(create_requested_at="", operation_polls=0)
                return found
            await run.save(operation_polls=run.rec.operation_polls + 1)
            await self._sleep(self._poll_seconds)

    async def _team_ready(self, run: _Run, team_id: str, thread_id: str) -> bool:
        await run.save(
            team_id=team_id,
            team_thread_id=thread_id or run.rec.team_thread_id,
            operation="",
            operation_polls=0,
            create_requested_at="",
            step=Step.ENSURE_CHANNEL,
        )
        return True

    async def _poll_creation(self, run: _Run) -> bool:
        while True:
            if run.rec.operation_polls >= self._max_polls:
                raise KnownFailure(failures.timed_out(int(Step.CREATE_TEAM)))
            await self._sleep(self._poll_seconds)
            try:
                state = await self._call(
                    "operation", self._provisioner.operation(run.rec.operation)
                )
            except StepError as exc:
                if isinstance(exc.error, GraphNotFound):
                    # The operation expired: whether the team exists decides what's next.
                    await run.save(operation="")
                    return True
                raise
            polls = run.rec.operation_polls + 1
            if state.status == "succeeded":
                return await self._team_ready(run, state.team_id or run.rec.team_id, "")
            if state.status == "failed":
                failure = failures.operation_failed(int(Step.CREATE_TEAM), state)
                # Keep the group id: Retry makes that group a team instead of another group.
                await run.save(operation="", operation_polls=0, create_requested_at="")
                raise KnownFailure(failure)
            await run.save(operation_polls=polls)

    async def _wait_for_team(self, run: _Run) -> bool:
        """Wait for the team of the stored group, which a request already sent will create."""
        while True:
            if run.rec.operation_polls >= self._max_polls:
                # Retry then asks for the team again, in case the request never ran.
                await run.save(create_requested_at="", operation_polls=0)
                raise KnownFailure(failures.timed_out(int(Step.CREATE_TEAM)))
            await self._sleep(self._poll_seconds)
            team = await self._call("get_team", self._provisioner.get_team(run.rec.team_id))
            if team is not None:
                return await self._team_ready(run, team.id, team.thread_id)
            await run.save(operation_polls=run.rec.operation_polls + 1)

    async def _unarchive(self, run: _Run, what: str) -> None:
        record = run.rec
        step = int(record.step)
        try:
            if what == "team":
                location = await self._call(
                    "unarchive_team", self._provisioner.unarchive_team(record.team_id)
                )
            else:
                location = await self._call(
                    "unarchive_channel",
                    self._provisioner.unarchive_channel(record.team_id, record.channel_id),
                )
        except StepError as exc:
            if isinstance(exc.error, GraphForbidden):
                raise KnownFailure(failures.archived(step, what, exc.error.request_id)) from exc
            raise
        for _ in range(self._max_polls):
            if not location:
                return
            await self._sleep(self._poll_seconds)
            state = await self._call("operation", self._provisioner.operation(location))
            if state.status == "succeeded":
                return
            if state.status == "failed":
                raise KnownFailure(failures.archived(step, what))
        raise KnownFailure(failures.timed_out(step))

    # step 2

    async def _ensure_channel(self, run: _Run) -> bool:
        provisioner = self._provisioner
        record = run.rec
        channel = None
        if record.channel_id:
            channel = await self._call(
                "get_channel", provisioner.get_channel(record.team_id, record.channel_id)
            )
        if channel is None:
            channel = await self._call(
                "find_channel", provisioner.find_channel(record.team_id, record.channel_name)
            )
        if channel is None:
            channel = await self._call(
                "create_channel",
                provisioner.create_channel(
                    record.team_id, record.channel_name, CHANNEL_DESCRIPTION
                ),
            )
        if channel.archived:
            await run.save(channel_id=channel.id)
            await self._unarchive(run, "channel")
        team = TeamInfo(id=record.team_id, name=record.team_name, thread_id=record.team_thread_id)
        await run.save(
            channel_id=channel.id,
            channel_url=provisioner.channel_link(team, channel),
            channel_reference=(
                channel_reference(record.team_reference, channel.id)
                if record.team_reference
                else {}
            ),
            step=Step.INSTALL_APP,
        )
        return True

    # step 3

    async def _install_app(self, run: _Run) -> bool:
        team_id = run.rec.team_id
        installed = await self._call("app_installed", self._provisioner.app_installed(team_id))
        if not installed:
            try:
                await self._call("install_app", self._provisioner.install_app(team_id))
            except StepError as exc:
                if not isinstance(exc.error, GraphConflict):
                    raise
        await run.save(app_installed=True, step=Step.AWAIT_INSTALLATION)
        return True

    # step 4

    async def _await_installation(self, run: _Run) -> bool:
        record = run.rec
        installation = None
        for team in (record.team_id, record.team_thread_id):
            if team:
                item = await self._store.read(installation_key(record.tenant_id, team))
                if item is not None:
                    installation = item.value
                    break
        if installation is not None and installation.get("added"):
            reference = dict(installation.get("reference") or {})
            await run.save(
                team_reference=reference,
                team_thread_id=str(installation.get("teamId") or record.team_thread_id),
                channel_reference=channel_reference(reference, record.channel_id),
                status=Status.RUNNING,
                step=Step.WELCOME,
            )
            return True
        if record.status is not Status.WAITING:
            await run.save(status=Status.WAITING)
        return False

    # step 5

    async def _welcome(self, run: _Run) -> bool:
        record = run.rec
        if record.welcome_post_id and record.welcome_channel_id == record.channel_id:
            await run.save(status=Status.READY, failure=None)
            return False
        card = to_json(welcome_post_card(WelcomePostView(record.team_name, record.channel_name)))
        try:
            posted = await self._messenger.post_to_channel(
                record.team_reference, record.channel_id, card=card
            )
        except DeliveryError as exc:
            if exc.status in (403, 404):
                step = await self._diagnose(record)
                if step is None:
                    step = Step.INSTALL_APP  # the bot may have been removed from the team
                await self._restart_at(run, step)
                raise _Repair(StepError("post_welcome", exc)) from exc
            raise StepError("post_welcome", exc) from exc
        await run.save(
            welcome_post_id=posted.activity_id,
            welcome_conversation_id=posted.conversation_id,
            welcome_channel_id=record.channel_id,
            status=Status.READY,
            failure=None,
        )
        log.info("the Defender Experts team and its Managed response channel are ready")
        return False


class _Repair(Exception):
    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _forget_team() -> dict[str, Any]:
    return {
        "team_id": "",
        "team_thread_id": "",
        "operation": "",
        "operation_polls": 0,
        "create_requested_at": "",
        "channel_id": "",
        "channel_url": "",
        "app_installed": False,
        "team_reference": {},
        "channel_reference": {},
    }


def _refused(exc: StepError) -> bool:
    """The create surely created nothing: Microsoft refused it (4xx), or it was never sent (no
    token, an untrusted certificate). A 5xx or no answer at all leaves that open."""
    error = exc.error
    if not isinstance(error, GraphError):
        return False
    if error.service == "login" or isinstance(error, GraphCertificateError):
        return True
    return error.status is not None and error.status < 500


def _retry_after(exc: BaseException) -> float | None:
    error = exc.error if isinstance(exc, StepError) else exc
    if isinstance(error, GraphError):
        return error.retry_after
    if isinstance(error, DeliveryError):
        return error.retry_after
    return None
