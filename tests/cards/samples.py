"""Representative views of every card builder the product has.

``BUILDERS`` is discovered, not listed: every public function of a module in the ``cards``
package whose return type is ``AdaptiveCard``. ``SAMPLES`` maps each builder's qualified name
(``module.function``) to the cards it builds from representative views: every notice kind,
every state a row or a step can be in, setup and edit modes. A new builder without samples
here fails ``test_every_builder_has_samples``.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import typing
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import cards
from cards import chat, common, incident, messages, provisioning, readiness, report, setup
from cards.chat import AnswerView, AskView
from cards.elements import AdaptiveCard
from cards.incident_views import CompletedRow, IncidentView, PendingRow
from cards.provisioning import ProgressView, StepLine, WelcomePostView
from cards.readiness import ActionView, FigureView, ReadinessView
from cards.report import ReportView
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

HOSTILE = 'Fin"ance"}]} <script>alert(1)</script> **bold** {{x}}'
Sample = Callable[[], AdaptiveCard]


def _builders() -> dict[str, Callable[..., AdaptiveCard]]:
    found: dict[str, Callable[..., AdaptiveCard]] = {}
    for info in pkgutil.iter_modules(cards.__path__):
        module = importlib.import_module(f"cards.{info.name}")
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("_") or fn.__module__ != module.__name__:
                continue
            if typing.get_type_hints(fn).get("return") is AdaptiveCard:
                found[f"{info.name}.{name}"] = fn
    return found


BUILDERS = _builders()
NOTICES = tuple(
    Notice(f"A {kind} notice, with enough words to wrap.", kind)
    for kind in ("error", "warning", "info", "good")
)
SECTIONS = (
    Section("permissions", "Permissions", (("Investigate", "On"), ("Respond", "Off"))),
    Section("contacts", "Notification contacts", ()),
)
CHANGED = (
    Section("permissions", "Permissions", (("Investigate", "On"), ("Respond", "On")), ("Respond",)),
    SECTIONS[1],
)
COMMANDS = (Command("setup", "Run setup"), Command("settings", "Show settings"))
TAB = GroupTabView("fin", (Option("1", HOSTILE),), (Option("2", "Domain controllers"),), True)
EMPTY_TAB = GroupTabView("", (), (), False)
GROUP = Option("g1", "Security Operations", "secops@contoso.com")
WHEN = "3 Dec 2026, 08:20 UTC"
SEVERITIES = ("high", "medium", "low", "informational")
PHASES = ("running", "waiting", "ready", "failed", "removed", "off")
CONTACT = ContactRow("u1", HOSTILE, "a@b.c", "serviceReview", "Service review", "+1 425 555 0100")


def _incident(**over: object) -> IncidentView:
    base: dict[str, object] = {
        "incident_id": "2972395",
        "revision": 2,
        "title": "Multi-stage incident on one endpoint",
        "severity": "high",
        "severity_label": "High",
        "status_label": "In progress",
        "assigned_to": "Defender Experts",
        "classification": "True positive",
        "determination": "Malware",
        "devices": ("fin-ws-042.contoso.com",),
        "users": ("jdoe@contoso.com",),
        "summary": "What the experts found, in plain words.",
        "analyst": "Defender Experts analyst",
        "completed": tuple(
            CompletedRow("Isolate device", "fin-ws-042", status, label, "3 Dec 2026, 08:15 UTC")
            for status, label in (
                ("completed", "Completed"),
                ("failed", "Failed"),
                ("inProgress", "In progress"),
                ("cancelled", "Cancelled"),
            )
        ),
        "pending": (
            PendingRow("a1", "Force password reset", "jdoe", "Reset it."),
            PendingRow("a2", "Disable user", "jdoe", "", "completed", "Alex", WHEN),
            PendingRow("a3", "Delete email", "jdoe", "", "skipped", "Megan", WHEN),
        ),
        "web_url": "https://security.microsoft.com/incidents/2972395",
        "updated": "3 Dec 2026, 08:15 UTC",
    }
    base.update(over)
    return IncidentView(**base)  # type: ignore[arg-type]


_PROGRESS_STEPS = (
    StepLine(1, "Create the Defender Experts team", "done"),
    StepLine(2, "Create the Managed response channel", "current"),
    StepLine(3, "Add Defender Experts to the team", "waiting"),
    StepLine(4, "Connect to the channel", "failed"),
    StepLine(5, "Post a welcome message", "pending"),
)


def _progress(phase: str, **over: object) -> ProgressView:
    base: dict[str, object] = {
        "steps": _PROGRESS_STEPS,
        "current": 2,
        "phase": phase,
        "team_name": "Defender Experts team",
        "channel_name": "Managed response",
        "channel_url": "https://teams.microsoft.com/l/channel/x",
        "failure_title": "Teams blocked the app",
        "failure_text": "Ask your Teams admin to allow it.",
        "permissions": ("Channel.Create",),
        "hint": "This can take a few minutes.",
    }
    base.update(over)
    return ProgressView(**base)  # type: ignore[arg-type]


def each(build: Callable[[Any], AdaptiveCard], values: Iterable[Any]) -> tuple[Sample, ...]:
    """One sample per value: ``build(value)``."""
    return tuple(partial(build, v) for v in values)


WITH_NOTICES = (None, *NOTICES)


def _report(notice: Notice | None = None, *, empty: bool = False) -> ReportView:
    pairs = () if empty else (("High", 3), ("Medium", 2), (HOSTILE, 1))
    return ReportView(
        range_label="Last 30 days",
        range_key="30",
        investigated=0 if empty else 6,
        resolved=0 if empty else 4,
        resolved_percent=0 if empty else 67,
        resolved_directly=0 if empty else 3,
        resolved_with_help=0 if empty else 1,
        avg_resolve="No resolved incidents" if empty else "5 h 12 min",
        avg_experts="No resolved incidents" if empty else "4 h",
        avg_customer="No resolved incidents" if empty else "1 h 12 min",
        experts_hours=None if empty else 4.0,
        customer_hours=None if empty else 1.2,
        by_severity=pairs,
        by_category=pairs,
        by_source=pairs,
        by_tactic=pairs,
        top_devices=pairs,
        top_users=pairs,
        actions=() if empty else (("Completed", 2), ("Pending", 1)),
        trend_months=("2026-07", "2026-08", "2026-09", "2026-10", "2026-11", "2026-12"),
        trend_series=() if empty else (("High", (1, 0, 2, 1, 3, 0)), ("Low", (0, 1, 0, 0, 1, 2))),
        custom_from="" if empty else "2026-11-01",
        custom_to="" if empty else "2026-11-30",
        notice=notice,
    )


def _readiness(notice: Notice | None = None, changes: tuple[str, ...] = ()) -> ReadinessView:
    devices = FigureView("Devices", 40, 50, 10, "Onboard more.", "Onboard", "https://x.example")
    unread = FigureView("Identities", None, None, None, "", "", "", "The directory timed out.")
    return ReadinessView(
        phase_label="Readiness",
        assessed_at=WHEN,
        needed=1,
        in_progress=1,
        completed=1,
        figures=(devices, unread),
        actions=tuple(
            ActionView(
                status,
                f"Action {status}",
                "Why it matters.",
                "https://x.example",
                status,
                status,
                detail="Marked by Alex" if status == "inProgress" else "",
                can_mark=status == "completeNow",
                settings=status == "completed",
            )
            for status in ("completeNow", "inProgress", "completed")
        ),
        rev=3,
        notice=notice,
        changes=changes,
    )


SAMPLES: dict[str, tuple[Sample, ...]] = {
    "common.card": each(lambda n: common.card([common.header("T"), *common.notice(n)]), NOTICES),
    "messages.welcome_card": each(
        messages.welcome_card, (WelcomeView("Alex", False), WelcomeView("", True))
    ),
    "messages.help_card": (
        *each(lambda n: messages.help_card(HelpView(COMMANDS, n)), WITH_NOTICES),
        lambda: messages.help_card(HelpView(COMMANDS, configured=True)),
    ),
    "messages.not_authorized_card": each(
        messages.not_authorized_card, (NotAuthorizedView(("Global Administrator",), "Adele"),)
    ),
    "messages.message_card": each(
        lambda n: messages.message_card(MessageView("T", "x", (("settings.show", "View"),), n)),
        WITH_NOTICES,
    ),
    "setup.permissions_card": each(
        setup.permissions_card,
        (
            PermissionsView(1, True, False),
            PermissionsView(1, True, True),
            *(PermissionsView(3, True, True, "edit", n) for n in NOTICES),
        ),
    ),
    "setup.exclusions_card": each(
        setup.exclusions_card,
        (
            ExclusionsView(2, TAB, EMPTY_TAB),
            *(ExclusionsView(2, EMPTY_TAB, TAB, "edit", n) for n in NOTICES),
        ),
    ),
    "setup.contacts_card": each(
        setup.contacts_card,
        (
            ContactsView(4, "", (), ()),
            *(ContactsView(4, "sec", (GROUP,), (CONTACT,), notice=n) for n in NOTICES),
        ),
    ),
    "setup.teams_card": each(
        setup.teams_card, (TeamsView(5, False), TeamsView(5, True, "edit", NOTICES[0]))
    ),
    "setup.review_card": each(
        setup.review_card,
        (
            *(ReviewView(6, SECTIONS, notice=n) for n in WITH_NOTICES),
            ReviewView(6, SECTIONS, "edit"),
            ReviewView(6, CHANGED, "edit", NOTICES[0]),
        ),
    ),
    "setup.submitted_card": each(
        setup.submitted_card, (SubmittedView(1, True, "Alex"), SubmittedView(2, False, "Alex"))
    ),
    "setup.settings_card": each(
        setup.settings_card,
        (
            SettingsView(2, SECTIONS, "Alex", "3 Dec 2026, 08:14 UTC"),
            SettingsView(0, ()),
            *(SettingsView(2, SECTIONS, notice=n) for n in NOTICES),
        ),
    ),
    "incident.incident_card": each(
        incident.incident_card,
        (
            *(_incident(severity=s, severity_label=s.title()) for s in SEVERITIES),
            _incident(acknowledged_by="Megan", acknowledged_when="3 Dec 2026, 08:22 UTC"),
            _incident(completed=(), pending=(), summary=""),
            *(_incident(notice=n) for n in NOTICES),
        ),
    ),
    "provisioning.progress_card": each(
        provisioning.progress_card,
        (
            *(_progress(p) for p in PHASES),
            *(_progress("running", notice=n) for n in NOTICES),
        ),
    ),
    "chat.answer_card": each(
        chat.answer_card,
        (AnswerView("Jordan Avery", HOSTILE), AnswerView("assistant", "Received.", True)),
    ),
    "chat.ask_card": each(
        chat.ask_card,
        (
            AskView("Alex", True),
            AskView("", True),
            AskView("Adele", False),
            AskView("A", True, False),
        ),
    ),
    "readiness.readiness_card": (
        *each(lambda n: readiness.readiness_card(_readiness(n)), WITH_NOTICES),
        lambda: readiness.readiness_card(_readiness(changes=("Devices: 40 protected",))),
    ),
    "report.report_card": (
        *each(lambda n: report.report_card(_report(n)), WITH_NOTICES),
        lambda: report.report_card(_report(empty=True)),
    ),
    "provisioning.welcome_post_card": each(
        provisioning.welcome_post_card,
        (WelcomePostView("Defender Experts team", "Managed response"),),
    ),
}


def all_cases() -> dict[str, Sample]:
    """Every sample, named ``module.function#n``."""
    return {f"{n}#{i}": build for n, builds in SAMPLES.items() for i, build in enumerate(builds)}
