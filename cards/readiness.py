"""The readiness assessment ("Service status") card.

Protected assets as Teams' native donut charts (each with a fact-set fallback for clients
without charts), then the actions needed as a table, the Complete now ones first. Text keeps the
default colour; a status is a word on a styled cell.
"""

from __future__ import annotations

from dataclasses import dataclass

from cards.common import Style, card, execute, facts, header, para
from cards.elements import (
    Action,
    ActionSet,
    AdaptiveCard,
    CardElement,
    Column,
    ColumnDefinition,
    ColumnSet,
    Container,
    DonutChart,
    DonutChartData,
    Fact,
    FactSet,
    OpenUrlAction,
    Table,
    TableCell,
    TableRow,
    TextBlock,
)
from cards.views import Notice

VERB_PREFIX = "readiness."
VIEW = "readiness.view"
REFRESH = "readiness.refresh"
MARK = "readiness.mark"
REPORT_VIEW = "report.view"
SETTINGS_SHOW = "settings.show"
LATENCY_NOTE = "It can take up to 24 hours to get the latest status of your security settings."

_STATUS_STYLE: dict[str, Style] = {
    "completeNow": "attention",
    "inProgress": "accent",
    "completed": "good",
}
_STATUS_ICON = {"completeNow": "⚠️", "inProgress": "⏳", "completed": "✅"}
_NOTICE_STYLE: dict[str, Style] = {
    "error": "attention",
    "warning": "warning",
    "info": "accent",
    "good": "good",
}


@dataclass(frozen=True)
class FigureView:
    name: str
    """"Devices" or "Identities"."""
    protected: int | None
    target: int | None
    remaining: int | None
    advice: str
    link_title: str
    link_url: str
    stale_reason: str = ""


@dataclass(frozen=True)
class ActionView:
    id: str
    title: str
    why: str
    url: str
    status: str
    """completeNow, inProgress or completed."""
    status_label: str
    detail: str = ""
    can_mark: bool = False
    settings: bool = False
    """A setting of this service: "How" opens the settings instead of a link."""


@dataclass(frozen=True)
class ReadinessView:
    phase_label: str
    assessed_at: str
    needed: int
    in_progress: int
    completed: int
    figures: tuple[FigureView, ...]
    actions: tuple[ActionView, ...]
    rev: int
    notice: Notice | None = None
    changes: tuple[str, ...] = ()
    """What changed since the last assessment (the card sent to the admins)."""


def notice_box(n: Notice | None) -> list[CardElement]:
    """A styled box; the text keeps the default colour and starts with a word for the state."""
    if n is None:
        return []
    return [Container(style=_NOTICE_STYLE[n.kind], items=[para(n.text)])]


def figure_block(f: FigureView) -> Container:
    if f.protected is None or f.target is None:
        items: list[CardElement] = [
            TextBlock(text=f.name, weight="Bolder", wrap=True),
            para("Not read yet." + (f" {f.stale_reason}" if f.stale_reason else "")),
        ]
        return Container(items=items)
    remaining = f.remaining or 0
    summary = f"{f.protected} protected of a target of {f.target}"
    fallback = FactSet(
        facts=[
            Fact(title="Protected", value=str(f.protected)),
            Fact(title="Still to protect", value=str(remaining)),
            Fact(title="Target (licences)", value=str(f.target)),
        ]
    )
    chart = DonutChart(
        title=f"{f.name}: {summary}",
        data=[
            DonutChartData(legend="Protected", value=f.protected),
            DonutChartData(legend="Still to protect", value=remaining),
        ],
        fallback=fallback,
    )
    items = [TextBlock(text=f"{f.name}: {summary}", weight="Bolder", wrap=True), chart]
    if remaining:
        items.append(para(f"{remaining} still to protect. {f.advice}"))
        items.append(ActionSet(actions=[OpenUrlAction(title=f.link_title, url=f.link_url)]))
    else:
        items.append(para("Target met."))
    if f.stale_reason:
        items.append(
            Container(style="warning", items=[para(f"Stale: {f.stale_reason}", is_subtle=False)])
        )
    return Container(items=items)


def _count_column(label: str, value: int) -> Column:
    return Column(
        width="stretch",
        items=[
            TextBlock(text=str(value), size="ExtraLarge", weight="Bolder", wrap=True),
            TextBlock(text=label, wrap=True, spacing="None"),
        ],
    )


def _action_row(a: ActionView, rev: int) -> TableRow:
    what: list[CardElement] = [
        TextBlock(text=a.title, weight="Bolder", wrap=True),
        TextBlock(text=a.why, wrap=True, is_subtle=True, spacing="None"),
    ]
    how: list[CardElement] = (
        [ActionSet(actions=[execute("Open settings", SETTINGS_SHOW, {}, inputs=False)])]
        if a.settings
        else [ActionSet(actions=[OpenUrlAction(title="How to do it", url=a.url)])]
    )
    status: list[CardElement] = [
        TextBlock(text=f"{_STATUS_ICON[a.status]} {a.status_label}", weight="Bolder", wrap=True)
    ]
    if a.detail:
        status.append(TextBlock(text=a.detail, wrap=True, size="Small", spacing="None"))
    if a.can_mark:
        status.append(
            ActionSet(
                actions=[
                    execute("Mark in progress", MARK, {"check": a.id, "rev": rev}, inputs=False)
                ]
            )
        )
    return TableRow(
        cells=[
            TableCell(items=what),
            TableCell(items=how),
            TableCell(items=status, style=_STATUS_STYLE[a.status]),
        ]
    )


def readiness_card(view: ReadinessView) -> AdaptiveCard:
    body: list[CardElement] = [
        header("Service status", "Readiness assessment for the Defender Experts service"),
        *notice_box(view.notice),
    ]
    if view.changes:
        body.append(
            Container(
                style="accent",
                items=[
                    TextBlock(text="What changed", weight="Bolder", wrap=True),
                    *(para(f"• {c}", spacing="None") for c in view.changes),
                ],
            )
        )
    body += [
        facts([("Service phase", view.phase_label), ("Last assessed", view.assessed_at)]),
        para(LATENCY_NOTE, is_subtle=True),
        TextBlock(text="Protected assets", size="Medium", weight="Bolder", wrap=True),
        ColumnSet(columns=[Column(width="stretch", items=[figure_block(f)]) for f in view.figures]),
        TextBlock(text="Actions needed", size="Medium", weight="Bolder", wrap=True),
        ColumnSet(
            columns=[
                _count_column("Actions needed", view.needed),
                _count_column("In progress", view.in_progress),
                _count_column("Completed", view.completed),
            ]
        ),
        Table(
            columns=[
                ColumnDefinition(width=3),
                ColumnDefinition(width=2),
                ColumnDefinition(width=2),
            ],
            first_row_as_headers=True,
            show_grid_lines=True,
            rows=[
                TableRow(
                    cells=[
                        TableCell(items=[TextBlock(text="Action", weight="Bolder", wrap=True)]),
                        TableCell(items=[TextBlock(text="How", weight="Bolder", wrap=True)]),
                        TableCell(items=[TextBlock(text="Status", weight="Bolder", wrap=True)]),
                    ]
                ),
                *(_action_row(a, view.rev) for a in view.actions),
            ],
        ),
    ]
    actions: list[Action] = [
        execute("Refresh", REFRESH, {"rev": view.rev}, inputs=False),
        execute("View service report", REPORT_VIEW, {"range": "30"}, inputs=False),
        OpenUrlAction(
            title="Learn more",
            url="https://learn.microsoft.com/defender-xdr/get-started-xdr#prepare-your-environment-for-the-defender-experts-service",
        ),
    ]
    return card(body, actions)
