"""The readiness service: assesses a tenant from its signals, keeps the result, shows it as a
card, lets administrators mark actions in progress, and tells them when something changed.

One document per tenant (``tenants/{tenant}/readiness``), written with ETag concurrency. Plain
async Python: the signals, the settings, the admins' chats and the experts' events are ports.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from bot.actions import Access, Actor, CardAction, CardRoute, CommandRoute, Refusal, Routes
from bot.errors import ConcurrencyError, ValidationError
from bot.readiness.assessment import (
    PHASE_LABEL,
    PHASES,
    STATUS_LABEL,
    ActionState,
    Figure,
    Mark,
    SignalRecord,
    counts,
    evaluate,
    figures,
    ready_for_monitoring,
)
from bot.readiness.catalogue import (
    BY_ID,
    CONTROL_IDS,
    INSTALL_SENSORS_URL,
    ONBOARD_DEVICES_URL,
)
from bot.readiness.ports import (
    AdminChats,
    ChoicesSource,
    ExpertEvents,
    ReadinessSignals,
    SignalError,
)
from bot.readiness.record import Assessment, iso, readiness_key, shown
from bot.readiness.view import assessment_json
from bot.storage import Item, Store
from cards.elements import AdaptiveCard
from cards.readiness import (
    MARK,
    REFRESH,
    VERB_PREFIX,
    VIEW,
    ActionView,
    FigureView,
    ReadinessView,
    readiness_card,
)
from cards.views import Notice

log = logging.getLogger(__name__)

JSON = dict[str, Any]
Clock = Callable[[], float]
REFRESH_SECONDS = 300.0
CONFLICT_RETRIES = 8
PHASE_HISTORY_KEEP = 100


class ReadinessService:
    """The readiness use cases; no HTTP and no Bot Framework here."""

    def __init__(
        self,
        store: Store,
        signals: ReadinessSignals,
        choices: ChoicesSource,
        is_admin: Callable[[str], Any],
        *,
        tenant_id: str,
        admins: AdminChats | None = None,
        events: ExpertEvents | None = None,
        clock: Clock = time.time,
        interval_hours: float = 24.0,
        refresh_seconds: float = REFRESH_SECONDS,
    ) -> None:
        self._store = store
        self._signals = signals
        self._choices = choices
        self._is_admin = is_admin
        self._tenant = tenant_id.lower()
        self._admins = admins
        self._events = events
        self._clock = clock
        self.interval_seconds = interval_hours * 3600.0
        self._refresh_seconds = refresh_seconds
        self._lock = asyncio.Lock()

    @property
    def tenant_id(self) -> str:
        return self._tenant

    def routes(self) -> Routes:
        """Anyone in the tenant sees the assessment; only an administrator marks an action in
        progress (the router's guard refuses anyone else before the handler runs)."""
        return Routes(
            cards=(
                CardRoute(VERB_PREFIX, self.on_card_action, Access.MEMBER),
                CardRoute(MARK, self.on_card_action, Access.ADMIN),
            ),
            commands=(CommandRoute(("status", "readiness"), self.status_command, Access.MEMBER),),
            refused=self.refused,
        )

    async def refused(
        self, actor: Actor, refusal: Refusal, action: CardAction | None
    ) -> AdaptiveCard:
        """The guard's refusals: outside the tenant, not an administrator, or no directory."""
        if refusal.reason == "outside":
            return await self._refusal("Only members of your organization can see this.")
        if refusal.reason == "unavailable":
            return await self._refusal(f"{refusal.advice} Nothing changed.".strip())
        return await self.show(
            actor,
            Notice(
                "Only a Global Administrator or Security Administrator can mark an action "
                "in progress. Nothing changed.",
                "error",
            ),
        )

    # ---- reading and assessing ---------------------------------------------------------

    async def _load(self) -> tuple[Item | None, Assessment]:
        item = await self._store.read(readiness_key(self._tenant))
        return item, (Assessment.empty() if item is None else Assessment.from_json(item.value))

    async def current(self) -> Assessment:
        return (await self._load())[1]

    async def _read_signals(self, previous: Mapping[str, SignalRecord]) -> dict[str, SignalRecord]:
        reads = {
            "licences": self._signals.licences(),
            "devices": self._signals.devices(),
            "identities": self._signals.identities(),
            "controls": self._signals.controls(CONTROL_IDS),
        }
        results = await asyncio.gather(*reads.values(), return_exceptions=True)
        now = iso(self._clock())
        out: dict[str, SignalRecord] = {}
        for name, result in zip(reads, results, strict=True):
            if isinstance(result, SignalError):
                log.warning("readiness signal %s failed: %s", name, result)
                last = previous.get(name, SignalRecord(None))
                out[name] = SignalRecord(last.value, last.at, True, result.describe())
            elif isinstance(result, BaseException):
                raise result
            else:
                value: Any = result
                out[name] = SignalRecord(value.to_json(), now, False, "")
        return out

    async def assess(self, trigger: str, *, read: bool = True) -> tuple[Assessment, list[str]]:
        """Read every signal, re-evaluate, store; returns the assessment and what changed.

        ``read=False`` re-evaluates the stored signals (a settings change). If something
        changed since the last assessment, the admins get one card saying what.
        """
        async with self._lock:
            return await self._assess(trigger, read)

    async def _assess(self, trigger: str, read: bool) -> tuple[Assessment, list[str]]:
        _, before = await self._load()
        signals = await self._read_signals(before.signals) if read else dict(before.signals)
        choices = await self._choices.choices(self._tenant)
        for _ in range(CONFLICT_RETRIES):
            item, old = await self._load()
            now = self._clock()
            states = evaluate(signals, choices, old.marks, old.statuses)
            devices, identities = figures(signals)
            new_figures = {"devices": list(devices.key()), "identities": list(identities.key())}
            changes = self._changes(old, states, new_figures) if old.assessed_at else []
            ready = ready_for_monitoring(states, devices, identities)
            announce = ready and not old.ready_announced
            new = Assessment(
                rev=old.rev + 1,
                phase=old.phase,
                assessed_at=iso(now),
                assessed_ts=now,
                refreshed_ts=now if trigger == "refresh" else old.refreshed_ts,
                signals=signals,
                # A completed action's mark has done its job.
                marks={k: v for k, v in old.marks.items() if _status(states, k) != "completed"},
                statuses={s.check.id: s.status for s in states},
                figures=new_figures,
                ready_announced=old.ready_announced or announce,
                phase_history=old.phase_history,
            )
            try:
                await self._store.write(
                    readiness_key(self._tenant), new.to_json(), etag=item.etag if item else None
                )
            except ConcurrencyError:
                continue
            log.info("readiness assessed (%s): %d changes", trigger, len(changes))
            if announce and self._events is not None:
                await self._events.publish(
                    {
                        "type": "readiness.readyForMonitoring",
                        "tenantId": self._tenant,
                        "at": iso(now),
                        "phase": new.phase,
                    }
                )
            if changes and self._admins is not None:
                card = self._card(new, states, devices, identities, is_admin=False, changes=changes)
                await self._admins.send_to_admins(self._tenant, card)
            return new, changes
        raise ConcurrencyError("the readiness assessment is changing too fast")

    @staticmethod
    def _changes(
        old: Assessment, states: list[ActionState], new_figures: Mapping[str, list[int | None]]
    ) -> list[str]:
        out: list[str] = []
        for name, label in (("devices", "Devices"), ("identities", "Identities")):
            before, after = old.figures.get(name), new_figures.get(name)
            if before is not None and after is not None and list(before) != list(after):
                out.append(f"{label}: {_pair(before)} protected of target, now {_pair(after)}")
        for s in states:
            was = old.statuses.get(s.check.id)
            if was is not None and was != s.status:
                out.append(
                    f"{s.check.title}: {STATUS_LABEL.get(was, was)} → {STATUS_LABEL[s.status]}"  # type: ignore[call-overload]
                )
        return out

    # ---- the card ----------------------------------------------------------------------

    def _card(
        self,
        a: Assessment,
        states: list[ActionState],
        devices: Figure,
        identities: Figure,
        *,
        is_admin: bool,
        notice: Notice | None = None,
        changes: list[str] | None = None,
    ) -> AdaptiveCard:
        c = counts(states)
        figure_views = (
            FigureView(
                "Devices",
                devices.protected,
                devices.target,
                devices.remaining,
                "Onboard more devices to Defender for Endpoint.",
                "Onboard devices",
                ONBOARD_DEVICES_URL,
                devices.reason if devices.stale else "",
            ),
            FigureView(
                "Identities",
                identities.protected,
                identities.target,
                identities.remaining,
                "Install more Defender for Identity sensors.",
                "Install sensors",
                INSTALL_SENSORS_URL,
                identities.reason if identities.stale else "",
            ),
        )
        actions = tuple(
            ActionView(
                id=s.check.id,
                title=s.check.title,
                why=s.check.why,
                url=s.check.how_url,
                status=s.status,
                status_label=STATUS_LABEL[s.status],
                detail=_detail(s),
                can_mark=is_admin and s.status == "completeNow",
                settings=s.check.signal == "settings",
            )
            for s in states
        )
        view = ReadinessView(
            phase_label=PHASE_LABEL[a.phase],
            assessed_at=shown(a.assessed_at),
            needed=c["completeNow"],
            in_progress=c["inProgress"],
            completed=c["completed"],
            figures=figure_views,
            actions=actions,
            rev=a.rev,
            notice=notice,
            changes=tuple(changes or ()),
        )
        return readiness_card(view)

    async def _render(self, a: Assessment, actor: Actor, notice: Notice | None) -> AdaptiveCard:
        choices = await self._choices.choices(self._tenant)
        states = evaluate(a.signals, choices, a.marks, a.statuses)
        devices, identities = figures(a.signals)
        admin = bool(await self._is_admin(actor.user_id))
        return self._card(a, states, devices, identities, is_admin=admin, notice=notice)

    async def show(self, actor: Actor, notice: Notice | None = None) -> AdaptiveCard:
        """The assessment as it stands (assessed now if it never was)."""
        a = await self.current()
        if not a.assessed_at:
            a, _ = await self.assess("first view")
        return await self._render(a, actor, notice)

    async def status_command(self, actor: Actor, args: str = "") -> AdaptiveCard:
        return await self.show(actor)

    # ---- card actions ------------------------------------------------------------------

    async def on_card_action(self, action: CardAction) -> AdaptiveCard:
        """Card actions ``readiness.*``; the router's guard has checked the tenant and the role."""
        actor = action.actor
        if action.verb == VIEW:
            return await self.show(actor)
        if action.verb == REFRESH:
            return await self._refresh(actor)
        if action.verb == MARK:
            return await self._mark(actor, action.data)
        log.info("refused unknown readiness verb")
        return await self.show(
            actor, Notice("That action isn't recognized. Nothing changed.", "error")
        )

    async def _refusal(self, text: str) -> AdaptiveCard:
        from cards.messages import message_card
        from cards.views import MessageView

        return message_card(MessageView(title="Service status", text=text))

    async def _refresh(self, actor: Actor) -> AdaptiveCard:
        a = await self.current()
        now = self._clock()
        wait = a.refreshed_ts + self._refresh_seconds - now
        if a.refreshed_ts and wait > 0:
            minutes = max(1, int(wait // 60) + (1 if wait % 60 else 0))
            return await self._render(
                a,
                actor,
                Notice(
                    "The assessment was refreshed less than 5 minutes ago. You can refresh "
                    f"again in {minutes} minute{'s' if minutes != 1 else ''}. Nothing changed.",
                    "info",
                ),
            )
        a, changes = await self.assess("refresh")
        text = (
            f"Refreshed: {len(changes)} change{'s' if len(changes) != 1 else ''} since the last "
            "assessment."
            if changes
            else "Refreshed: nothing changed since the last assessment."
        )
        return await self._render(a, actor, Notice(text, "good"))

    async def _mark(self, actor: Actor, data: Mapping[str, Any]) -> AdaptiveCard:
        check_id = data.get("check")
        rev = data.get("rev")
        if not isinstance(check_id, str) or check_id not in BY_ID or not isinstance(rev, int):
            return await self.show(
                actor, Notice("That action is malformed. Nothing changed.", "error")
            )
        for _ in range(CONFLICT_RETRIES):
            item, a = await self._load()
            if item is None or rev != a.rev:
                return await self._render(
                    a,
                    actor,
                    Notice(
                        "This card was out of date, so nothing changed. Here is the latest "
                        "assessment.",
                        "warning",
                    ),
                )
            if a.statuses.get(check_id) != "completeNow":
                return await self._render(
                    a,
                    actor,
                    Notice("That action is already in progress or completed.", "info"),
                )
            mark = Mark(actor.user_id, actor.name, iso(self._clock()))
            new = Assessment(
                **{
                    **a.__dict__,
                    "rev": a.rev + 1,
                    "marks": {**a.marks, check_id: mark},
                    "statuses": {**a.statuses, check_id: "inProgress"},
                }
            )
            try:
                await self._store.write(readiness_key(self._tenant), new.to_json(), etag=item.etag)
            except ConcurrencyError:
                continue
            log.info("readiness action %s marked in progress", check_id)
            return await self._render(
                new,
                actor,
                Notice(
                    f"Marked “{BY_ID[check_id].title}” in progress. It becomes Completed when "
                    "its signal confirms it.",
                    "good",
                ),
            )
        raise ConcurrencyError("the readiness assessment is changing too fast")

    # ---- settings, schedule, phase ------------------------------------------------------

    async def on_settings(self, tenant_id: str, record: Any, previous: Any, actor: Any) -> None:
        """A settings commit: re-assess (the service's own settings are checks)."""
        if tenant_id.lower() == self._tenant and (await self.current()).assessed_at:
            await self.assess("settings", read=False)

    def next_due(self, a: Assessment) -> float | None:
        """When the scheduled re-assessment is due; None before the first assessment (the
        first one runs when someone opens it)."""
        return a.assessed_ts + self.interval_seconds if a.assessed_at else None

    async def run_due(self) -> float:
        """Re-assess if the schedule says so; the seconds until the next one is due."""
        a = await self.current()
        due = self.next_due(a)
        if due is None:
            return self.interval_seconds
        if self._clock() >= due:
            a, _ = await self.assess("schedule")
            due = self.next_due(a) or 0.0
        return max(0.0, due - self._clock())

    async def set_phase(self, phase: str, *, by: str, reason: str = "") -> Assessment:
        """Move the service phase (the service delivery manager, through the Experts API).

        Only to the next phase or back to the previous one; the move is kept with who and when.
        """
        if phase not in PHASES:
            raise ValidationError(f"phase must be one of {', '.join(PHASES)}", field="phase")
        by = by.strip()
        if not by or len(by) > 128:
            raise ValidationError("by must name who moves the phase (1-128 characters)", field="by")
        if len(reason) > 1000:
            raise ValidationError("reason is at most 1000 characters", field="reason")
        for _ in range(CONFLICT_RETRIES):
            item, a = await self._load()
            here, there = PHASES.index(a.phase), PHASES.index(phase)  # type: ignore[arg-type]
            if abs(here - there) != 1:
                raise ValidationError(
                    f"the service is in the {a.phase} phase: it can move to "
                    + " or ".join(PHASES[i] for i in (here - 1, here + 1) if 0 <= i < len(PHASES)),
                    field="phase",
                )
            entry = {
                "from": a.phase,
                "to": phase,
                "by": by,
                "at": iso(self._clock()),
                "reason": reason,
            }
            new = Assessment(
                **{
                    **a.__dict__,
                    "rev": a.rev + 1,
                    "phase": phase,
                    "phase_history": (*a.phase_history, entry)[-PHASE_HISTORY_KEEP:],
                }
            )
            try:
                await self._store.write(
                    readiness_key(self._tenant), new.to_json(), etag=item.etag if item else None
                )
            except ConcurrencyError:
                continue
            log.info("service phase moved from %s to %s", a.phase, phase)
            return new
        raise ConcurrencyError("the readiness assessment is changing too fast")

    async def to_json(self, *, first_view: bool = False) -> JSON:
        """The assessment for the experts (the Experts API and the console); ``first_view``
        assesses it now if it never was (as the card does)."""
        a = await self.current()
        if first_view and not a.assessed_at:
            a, _ = await self.assess("first view")
        choices = await self._choices.choices(self._tenant)
        return assessment_json(self._tenant, a, evaluate(a.signals, choices, a.marks, a.statuses))


def _status(states: list[ActionState], check_id: str) -> str:
    return next((s.status for s in states if s.check.id == check_id), "")


def _pair(value: list[int | None] | Any) -> str:
    protected, target = [*list(value), None, None][:2]
    return f"{'?' if protected is None else protected} of {'?' if target is None else target}"


def _detail(s: ActionState) -> str:
    parts: list[str] = []
    if s.mark is not None and s.status == "inProgress":
        who = s.mark.name or "an administrator"
        parts.append(f"Marked by {who}, {shown(s.mark.at)}.")
    if s.stale:
        parts.append(f"Stale: {s.reason or 'not read yet.'}")
    return " ".join(parts)
