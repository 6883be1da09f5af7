"""The saga's five steps, each idempotent: stored ids are checked before use, and the team and
the channel are looked up by name before they are created (see :mod:`bot.provisioning.service`
for the guarantees). A step returns True to go on to the next one, False to stop (ready, or
waiting for Teams' installation event), and raises :class:`~bot.provisioning.failures.StepError`
or :class:`~bot.provisioning.failures.KnownFailure` to stop with a failure.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from bot.messaging import ChannelMessenger, DeliveryError
from bot.provisioning import failures
from bot.provisioning.failures import KnownFailure, StepError
from bot.provisioning.model import (
    CHANNEL_DESCRIPTION,
    TEAM_DESCRIPTION,
    Status,
    Step,
    TeamsRecord,
    channel_reference,
    installation_key,
)
from bot.provisioning.ports import (
    Conflict,
    Forbidden,
    NotFound,
    PortError,
    PostLimiter,
    TeamInfo,
    TeamsProvisioner,
)
from bot.provisioning.records import Run, TeamsRecords
from bot.retry import Sleep
from cards import to_json
from cards.provisioning import WelcomePostView, welcome_post_card

log = logging.getLogger(__name__)

StepFunction = Callable[[Run], Awaitable[bool]]


class SagaSteps:
    """The calls each step makes to Teams (through the TeamsProvisioner port) and the Bot
    Connector, and what it records after each."""

    def __init__(
        self,
        records: TeamsRecords,
        provisioner: TeamsProvisioner,
        messenger: ChannelMessenger,
        *,
        sleep: Sleep,
        clock: Callable[[], datetime],
        poll_seconds: float,
        max_polls: int,
        directory_lag: float,
        limiter: PostLimiter | None = None,
    ) -> None:
        self._records = records
        self._limiter = limiter
        self._provisioner = provisioner
        self._messenger = messenger
        self._sleep = sleep
        self._clock = clock
        self._poll_seconds = poll_seconds
        self._max_polls = max_polls
        # Name lookups after a lost create answer: directory_lag seconds of them at the poll
        # interval (or max_polls when polls aren't waited out).
        self._lag_lookups = (
            max(1, math.ceil(directory_lag / poll_seconds)) if poll_seconds > 0 else max_polls
        )
        self.by_step: dict[Step, StepFunction] = {
            Step.CREATE_TEAM: self.create_team,
            Step.ENSURE_CHANNEL: self.ensure_channel,
            Step.INSTALL_APP: self.install_app,
            Step.AWAIT_INSTALLATION: self.await_installation,
            Step.WELCOME: self.welcome,
        }

    async def _call(self, name: str, pending: Awaitable[Any]) -> Any:
        try:
            return await pending
        except (PortError, DeliveryError) as exc:
            raise StepError(name, exc) from exc

    # step 1

    async def create_team(self, run: Run) -> bool:
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
                await run.save(**forget_team())
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
            if refused(exc):  # surely not created: no need to look for it before trying again
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

    async def _team_from_group(self, run: Run) -> bool:
        """Make the stored group a team, rather than leave it behind and create another."""
        log.info("making the Defender Experts team's existing group a team")
        await run.save(create_requested_at=self._clock().isoformat(), operation_polls=0)
        try:
            creation = await self._call(
                "create_team_from_group", self._provisioner.create_team_from_group(run.rec.team_id)
            )
        except StepError as exc:
            if isinstance(exc.error, Conflict):  # it has its team, or one is on its way
                return await self._wait_for_team(run)
            if refused(exc):
                await run.save(create_requested_at="")
            raise
        await run.save(operation=creation.operation, operation_polls=0)
        if not creation.operation:
            return await self._team_ready(run, run.rec.team_id, creation.thread_id)
        return await self._poll_creation(run)

    async def _find_team(self, run: Run) -> TeamInfo | None:
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

    async def _team_ready(self, run: Run, team_id: str, thread_id: str) -> bool:
        await run.save(
            team_id=team_id,
            team_thread_id=thread_id or run.rec.team_thread_id,
            operation="",
            operation_polls=0,
            create_requested_at="",
            step=Step.ENSURE_CHANNEL,
        )
        return True

    async def _poll_creation(self, run: Run) -> bool:
        while True:
            if run.rec.operation_polls >= self._max_polls:
                raise KnownFailure(failures.timed_out(int(Step.CREATE_TEAM)))
            await self._sleep(self._poll_seconds)
            try:
                state = await self._call(
                    "operation", self._provisioner.operation(run.rec.operation)
                )
            except StepError as exc:
                if isinstance(exc.error, NotFound):
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

    async def _wait_for_team(self, run: Run) -> bool:
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

    async def _unarchive(self, run: Run, what: str) -> None:
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
            if isinstance(exc.error, Forbidden):
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

    async def ensure_channel(self, run: Run) -> bool:
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

    async def install_app(self, run: Run) -> bool:
        team_id = run.rec.team_id
        installed = await self._call("app_installed", self._provisioner.app_installed(team_id))
        if not installed:
            try:
                await self._call("install_app", self._provisioner.install_app(team_id))
            except StepError as exc:
                if not isinstance(exc.error, Conflict):
                    raise
        await run.save(app_installed=True, step=Step.AWAIT_INSTALLATION)
        return True

    # step 4

    async def await_installation(self, run: Run) -> bool:
        record = run.rec
        installation = None
        for team in (record.team_id, record.team_thread_id):
            if team:
                item = await self._records.store.read(installation_key(record.tenant_id, team))
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

    async def welcome(self, run: Run) -> bool:
        record = run.rec
        if record.welcome_post_id and record.welcome_channel_id == record.channel_id:
            await run.save(status=Status.READY, failure=None)
            return False
        card = to_json(welcome_post_card(WelcomePostView(record.team_name, record.channel_name)))
        # A new post in the channel counts on the channel's thread, as an incident post does.
        slot: contextlib.AbstractAsyncContextManager[None] = (
            self._limiter.slot(record.tenant_id, record.channel_id)
            if self._limiter is not None
            else contextlib.nullcontext()
        )
        try:
            async with slot:
                posted = await self._messenger.post_to_channel(
                    record.team_reference, record.channel_id, card=card
                )
        except DeliveryError as exc:
            if exc.status in (403, 404):
                step = await self.diagnose(record)
                if step is None:
                    step = Step.INSTALL_APP  # the bot may have been removed from the team
                await self.restart_at(run, step)
                raise Repair(StepError("post_welcome", exc)) from exc
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

    # ---- repairs

    async def diagnose(self, record: TeamsRecord) -> Step | None:
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

    async def restart_at(self, run: Run, step: Step) -> None:
        log.warning("repairing the Defender Experts team from step %d", int(step))
        changes: dict[str, Any] = {"status": Status.RUNNING, "step": step, "failure": None}
        if step is Step.CREATE_TEAM:
            team = await self._call("get_team", self._provisioner.get_team(run.rec.team_id))
            if team is None:
                changes.update(forget_team())
        await run.save(**changes)


class Repair(Exception):
    """The step found the team or channel gone, and moved the saga back to repair it."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


def forget_team() -> dict[str, Any]:
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


def refused(exc: StepError) -> bool:
    """The create surely created nothing: Microsoft refused it (4xx), or it was never sent (no
    token, an untrusted certificate). A 5xx or no answer at all leaves that open."""
    error = exc.error
    if not isinstance(error, PortError):
        return False
    if not error.sent:
        return True
    return error.status is not None and error.status < 500


def retry_after(exc: BaseException) -> float | None:
    error = exc.error if isinstance(exc, StepError) else exc
    if isinstance(error, PortError):
        return error.retry_after
    if isinstance(error, DeliveryError):
        return error.retry_after
    return None
