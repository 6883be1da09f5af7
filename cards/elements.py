"""The Adaptive Card elements the product uses, as small typed models, and their serializer.

Only the subset the cards build is here: Adaptive Cards 1.5 plus Teams' ``Chart.*`` elements.
Enumerated values are ``Literal`` types, so mypy checks every call site; the models are plain
frozen dataclasses (nothing is built when the module is imported, unlike a pydantic schema), and
``dump`` turns a model into the JSON Teams expects: the element's ``type`` first, then its set
fields in declaration order under their camelCase names, with ``None`` left out. Models compare
by identity (``eq=False``: an ``__eq__`` and a ``__hash__`` per class would double the import
time); compare cards by their JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Literal, TypeAlias

Spacing = Literal["None", "ExtraSmall", "Small", "Default", "Medium", "Large", "ExtraLarge"]
ContainerStyle = Literal["default", "emphasis", "accent", "good", "attention", "warning"]
TextSize = Literal["Small", "Default", "Medium", "Large", "ExtraLarge"]
TextWeight = Literal["Lighter", "Default", "Bolder"]
VerticalAlignment = Literal["Top", "Center", "Bottom"]
ColumnWidth = Literal["auto", "stretch"]
ActionStyle = Literal["default", "positive", "destructive"]
AssociatedInputs = Literal["auto", "none"]
TextInputStyle = Literal["Text", "Tel", "Url", "Email", "Password"]
ChoiceSetStyle = Literal["compact", "expanded"]
CardVersion = Literal["1.5"]
JSON = dict[str, Any]


class Element:
    """Base of every model: ``TYPE`` is the JSON ``type`` ("" for parts such as a fact)."""

    __slots__ = ()
    TYPE: ClassVar[str] = ""


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class Block(Element):
    """An element of a card's body or a container's items: its space above it, and a line."""

    separator: bool | None = None
    spacing: Spacing | None = None


# Actions


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class ExecuteAction(Element):
    TYPE: ClassVar[str] = "Action.Execute"
    title: str
    style: ActionStyle | None = None
    data: Mapping[str, Any] | None = None
    associated_inputs: AssociatedInputs | None = None
    verb: str


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class OpenUrlAction(Element):
    TYPE: ClassVar[str] = "Action.OpenUrl"
    title: str
    url: str


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class ShowCardAction(Element):
    TYPE: ClassVar[str] = "Action.ShowCard"
    title: str
    card: AdaptiveCard


Action: TypeAlias = ExecuteAction | OpenUrlAction | ShowCardAction


# Text


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class TextBlock(Block):
    TYPE: ClassVar[str] = "TextBlock"
    text: str
    size: TextSize | None = None
    weight: TextWeight | None = None
    is_subtle: bool | None = None
    wrap: bool | None = None


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class TextRun(Element):
    TYPE: ClassVar[str] = "TextRun"
    text: str
    weight: TextWeight | None = None
    is_subtle: bool | None = None


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class RichTextBlock(Block):
    TYPE: ClassVar[str] = "RichTextBlock"
    inlines: Sequence[TextRun]


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class Fact(Element):
    title: str
    value: str


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class FactSet(Block):
    TYPE: ClassVar[str] = "FactSet"
    facts: Sequence[Fact]


# Containers


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class Container(Block):
    TYPE: ClassVar[str] = "Container"
    style: ContainerStyle | None = None
    bleed: bool | None = None
    items: Sequence[CardElement]


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class Column(Block):
    TYPE: ClassVar[str] = "Column"
    vertical_content_alignment: VerticalAlignment | None = None
    width: ColumnWidth | float | None = None
    items: Sequence[CardElement]


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class ColumnSet(Block):
    TYPE: ClassVar[str] = "ColumnSet"
    columns: Sequence[Column]


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class ActionSet(Block):
    TYPE: ClassVar[str] = "ActionSet"
    actions: Sequence[Action]


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class ColumnDefinition(Element):
    width: float
    """A relative width."""


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class TableCell(Element):
    TYPE: ClassVar[str] = "TableCell"
    style: ContainerStyle | None = None
    items: Sequence[CardElement]


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class TableRow(Element):
    TYPE: ClassVar[str] = "TableRow"
    cells: Sequence[TableCell]


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class Table(Block):
    TYPE: ClassVar[str] = "Table"
    columns: Sequence[ColumnDefinition]
    first_row_as_headers: bool | None = None
    show_grid_lines: bool | None = None
    rows: Sequence[TableRow]


# Inputs


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class TextInput(Block):
    TYPE: ClassVar[str] = "Input.Text"
    id: str
    label: str | None = None
    value: str | None = None
    max_length: int | None = None
    placeholder: str | None = None
    style: TextInputStyle | None = None


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class ToggleInput(Block):
    TYPE: ClassVar[str] = "Input.Toggle"
    id: str
    label: str | None = None
    value: Literal["true", "false"] | None = None
    title: str


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class Choice(Element):
    title: str
    value: str


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class ChoiceSetInput(Block):
    TYPE: ClassVar[str] = "Input.ChoiceSet"
    id: str
    label: str | None = None
    value: str | None = None
    choices: Sequence[Choice]
    style: ChoiceSetStyle | None = None
    is_multi_select: bool | None = None
    placeholder: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class DateInput(Block):
    TYPE: ClassVar[str] = "Input.Date"
    id: str
    label: str | None = None
    value: str | None = None
    """YYYY-MM-DD."""


# Teams charts; each keeps a plain 1.5 ``fallback`` for clients without charts.


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class DonutChartData(Element):
    legend: str
    value: float


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class DonutChart(Block):
    TYPE: ClassVar[str] = "Chart.Donut"
    title: str | None = None
    data: Sequence[DonutChartData]
    fallback: CardElement | None = None


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class HorizontalBarChartDataValue(Element):
    x: str
    y: float


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class HorizontalBarChart(Block):
    TYPE: ClassVar[str] = "Chart.HorizontalBar"
    title: str | None = None
    data: Sequence[HorizontalBarChartDataValue]
    fallback: CardElement | None = None


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class BarChartDataValue(Element):
    x: str
    y: float


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class GroupedVerticalBarChartData(Element):
    legend: str
    values: Sequence[BarChartDataValue]


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class GroupedVerticalBarChart(Block):
    TYPE: ClassVar[str] = "Chart.VerticalBar.Grouped"
    title: str | None = None
    x_axis_title: str | None = None
    y_axis_title: str | None = None
    stacked: bool | None = None
    data: Sequence[GroupedVerticalBarChartData]
    fallback: CardElement | None = None


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class LineChartValue(Element):
    x: str | float
    y: float


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class LineChartData(Element):
    legend: str
    values: Sequence[LineChartValue]


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class LineChart(Block):
    TYPE: ClassVar[str] = "Chart.Line"
    title: str | None = None
    x_axis_title: str | None = None
    y_axis_title: str | None = None
    data: Sequence[LineChartData]
    fallback: CardElement | None = None


CardElement: TypeAlias = (
    TextBlock
    | RichTextBlock
    | FactSet
    | Container
    | ColumnSet
    | ActionSet
    | Table
    | TextInput
    | ToggleInput
    | ChoiceSetInput
    | DateInput
    | DonutChart
    | HorizontalBarChart
    | GroupedVerticalBarChart
    | LineChart
)
"""Whatever may go in a card's body or a container's items."""


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class AdaptiveCard(Element):
    TYPE: ClassVar[str] = "AdaptiveCard"
    version: CardVersion = "1.5"
    fallback_text: str | None = None
    body: Sequence[CardElement]
    actions: Sequence[Action] | None = None


# Serialization


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


_Layout = tuple[str, tuple[tuple[str, str], ...]]
_LAYOUTS: dict[type, _Layout] = {}


def _layout(cls: type[Element]) -> _Layout:
    layout = _LAYOUTS.get(cls)
    if layout is None:
        names = tuple((f.name, _camel(f.name)) for f in fields(cls))  # type: ignore[arg-type]
        layout = _LAYOUTS[cls] = (cls.TYPE, names)
    return layout


def dump(value: Any) -> Any:
    """JSON for a model (or a list or mapping of them): ``type`` first, camelCase names, no
    ``None`` anywhere (not in an action's ``data`` either), tuples as lists."""
    if isinstance(value, Element):
        kind, names = _layout(type(value))
        out: JSON = {"type": kind} if kind else {}
        for name, key in names:
            item = getattr(value, name)
            if item is not None:
                out[key] = dump(item)
        return out
    if isinstance(value, (list, tuple)):
        return [dump(item) for item in value]
    if isinstance(value, Mapping):
        return {str(k): dump(v) for k, v in value.items() if v is not None}
    return value
