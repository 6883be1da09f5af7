"""The service report card: Teams' native charts, each with a fallback for other clients.

Every chart element (``Chart.*``, a Teams extension) carries a ``fallback`` that is plain
Adaptive Cards 1.5 (a FactSet or a Table), so a client without charts shows the same figures.
Range buttons are Universal Actions that answer with the report for that range, in place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cards.common import card, execute, header, para
from cards.elements import (
    ActionSet,
    AdaptiveCard,
    BarChartDataValue,
    CardElement,
    Column,
    ColumnDefinition,
    ColumnSet,
    Container,
    DateInput,
    DonutChart,
    DonutChartData,
    Fact,
    FactSet,
    GroupedVerticalBarChart,
    GroupedVerticalBarChartData,
    HorizontalBarChart,
    HorizontalBarChartDataValue,
    LineChart,
    LineChartData,
    LineChartValue,
    Table,
    TableCell,
    TableRow,
    TextBlock,
)
from cards.readiness import notice_box
from cards.views import Notice

VERB_PREFIX = "report."
VIEW = "report.view"
READINESS_VIEW = "readiness.view"
Pairs = tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class ReportView:
    range_label: str
    range_key: str
    investigated: int
    resolved: int
    resolved_percent: int
    resolved_directly: int
    resolved_with_help: int
    avg_resolve: str
    avg_experts: str
    avg_customer: str
    experts_hours: float | None
    customer_hours: float | None
    by_severity: Pairs
    by_category: Pairs
    by_source: Pairs
    by_tactic: Pairs
    top_devices: Pairs
    top_users: Pairs
    actions: Pairs
    trend_months: tuple[str, ...]
    trend_series: tuple[tuple[str, tuple[int, ...]], ...]
    custom_from: str = ""
    custom_to: str = ""
    notice: Notice | None = None


def fact_set(pairs: Sequence[tuple[str, int | str]]) -> CardElement:
    if not pairs:
        return para("None in this range.")
    return FactSet(facts=[Fact(title=k, value=str(v)) for k, v in pairs])


def _heading(text: str) -> TextBlock:
    return TextBlock(text=text, size="Medium", weight="Bolder", wrap=True)


def titled(title: str, element: CardElement) -> Container:
    """A chart's fallback: its title, then its figures."""
    return Container(items=[TextBlock(text=title, weight="Bolder", wrap=True), element])


def donut(title: str, pairs: Pairs) -> CardElement:
    if not pairs:
        return para(f"{title}: none in this range.")
    return DonutChart(
        title=title,
        data=[DonutChartData(legend=k, value=v) for k, v in pairs],
        fallback=titled(title, fact_set(pairs)),
    )


def bars(title: str, pairs: Pairs) -> CardElement:
    if not pairs:
        return para(f"{title}: none in this range.")
    return HorizontalBarChart(
        title=title,
        data=[HorizontalBarChartDataValue(x=k, y=v) for k, v in pairs],
        fallback=titled(title, fact_set(pairs)),
    )


def _number(label: str, value: str) -> Column:
    return Column(
        width="stretch",
        items=[
            TextBlock(text=value, size="ExtraLarge", weight="Bolder", wrap=True),
            TextBlock(text=label, wrap=True, spacing="None"),
        ],
    )


def _time_chart(view: ReportView) -> CardElement:
    facts = fact_set(
        [
            ("Average time to resolve", view.avg_resolve),
            ("Experts' time", view.avg_experts),
            ("Your time", view.avg_customer),
        ]
    )
    if view.experts_hours is None or view.customer_hours is None:
        return facts
    fallback = titled("Average time to resolve", facts)
    return GroupedVerticalBarChart(
        title="Average time to resolve (hours)",
        stacked=True,
        y_axis_title="Hours",
        data=[
            GroupedVerticalBarChartData(
                legend="Experts' time",
                values=[BarChartDataValue(x="Average", y=round(view.experts_hours, 1))],
            ),
            GroupedVerticalBarChartData(
                legend="Your time",
                values=[BarChartDataValue(x="Average", y=round(view.customer_hours, 1))],
            ),
        ],
        fallback=fallback,
    )


def _trend_table(view: ReportView) -> Table:
    header_row = TableRow(
        cells=[
            TableCell(items=[TextBlock(text=t, weight="Bolder", wrap=True)])
            for t in ("Month", *(name for name, _ in view.trend_series))
        ]
    )
    rows = [
        TableRow(
            cells=[
                TableCell(items=[TextBlock(text=month, wrap=True)]),
                *(
                    TableCell(items=[TextBlock(text=str(values[i]), wrap=True)])
                    for _, values in view.trend_series
                ),
            ]
        )
        for i, month in enumerate(view.trend_months)
    ]
    return Table(
        columns=[ColumnDefinition(width=1) for _ in range(1 + len(view.trend_series))],
        first_row_as_headers=True,
        rows=[header_row, *rows],
    )


def _trend_chart(view: ReportView) -> CardElement:
    table = titled("Incidents per month, by severity", _trend_table(view))
    if not view.trend_series:
        return para("No incidents in the last six months.")
    return LineChart(
        title="Incidents per month, by severity",
        x_axis_title="Month",
        y_axis_title="Incidents",
        data=[
            LineChartData(
                legend=name,
                values=[
                    LineChartValue(x=month, y=values[i])
                    for i, month in enumerate(view.trend_months)
                ],
            )
            for name, values in view.trend_series
        ],
        fallback=table,
    )


def report_card(view: ReportView) -> AdaptiveCard:
    body: list[CardElement] = [
        header("Service report", f"Defender Experts for XDR · {view.range_label}"),
        *notice_box(view.notice),
        ColumnSet(
            columns=[
                _number("Incidents investigated", str(view.investigated)),
                _number("Incidents resolved", str(view.resolved)),
                _number("Resolved", f"{view.resolved_percent}%"),
            ]
        ),
        fact_set(
            [
                ("Resolved directly by the experts", view.resolved_directly),
                ("Resolved with your help", view.resolved_with_help),
            ]
        ),
        _heading("Time to resolve"),
        _time_chart(view),
        _heading("Incidents"),
        donut("By severity", view.by_severity),
        bars("By category", view.by_category),
        bars("By service source", view.by_source),
        _heading("Most impacted assets"),
        ColumnSet(
            columns=[
                Column(
                    width="stretch",
                    items=[
                        TextBlock(text="Devices", weight="Bolder", wrap=True),
                        fact_set(view.top_devices),
                    ],
                ),
                Column(
                    width="stretch",
                    items=[
                        TextBlock(text="Users", weight="Bolder", wrap=True),
                        fact_set(view.top_users),
                    ],
                ),
            ]
        ),
        bars("Incidents by MITRE ATT&CK tactic", view.by_tactic),
        _heading("Incidents that required your action"),
        donut("Your actions", view.actions),
        _heading("Trends"),
        _trend_chart(view),
        Container(
            separator=True,
            items=[
                TextBlock(text="Custom range", weight="Bolder", wrap=True),
                ColumnSet(
                    columns=[
                        Column(
                            width="stretch",
                            items=[
                                DateInput(id="from", label="From", value=view.custom_from or None)
                            ],
                        ),
                        Column(
                            width="stretch",
                            items=[DateInput(id="to", label="To", value=view.custom_to or None)],
                        ),
                    ]
                ),
                ActionSet(actions=[execute("Show this range", VIEW, {"range": "custom"})]),
            ],
        ),
    ]
    actions = [
        execute(
            f"Last {days} days",
            VIEW,
            {"range": str(days)},
            inputs=False,
            style="positive" if view.range_key == str(days) else None,
        )
        for days in (7, 30, 90)
    ]
    actions.append(execute("Service status", READINESS_VIEW, {}, inputs=False))
    return card(body, actions)
