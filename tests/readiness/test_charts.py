"""Teams' chart elements on the readiness and report cards, against the shape Microsoft documents
("Charts in Adaptive Cards", Teams): each chart type's data, and a fallback for other clients.

The 1.5 schema doesn't define these elements (tests/cards check the cards with each chart read
as its fallback); here each chart is checked against its documented shape, and its fallback must
be a plain 1.5 element that carries the same numbers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from cards import to_json
from tests.cards.samples import SAMPLES
from tests.support import walk

NUMBER = {"type": "number"}
TEXT = {"type": "string", "minLength": 1}
COLOR = {"type": "string"}
COMMON = {
    "type": {"type": "string"},
    "id": TEXT,
    "title": TEXT,
    "showTitle": {"type": "boolean"},
    "colorSet": {"enum": ["categorical", "sequential", "diverging"]},
    "maxWidth": TEXT,
    "showLegend": {"type": "boolean"},
    "fallback": {"type": "object", "required": ["type"]},
}
AXES = {"xAxisTitle": TEXT, "yAxisTitle": TEXT, "yMin": NUMBER, "yMax": NUMBER, "color": COLOR}


def chart(data_item: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["type", "data", "fallback"],
        "additionalProperties": False,
        "properties": {
            **COMMON,
            **extra,
            "data": {"type": "array", "minItems": 1, "items": data_item},
        },
    }


def item(**properties: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "required": [k for k in properties if k != "color"],
        "additionalProperties": False,
        "properties": properties,
    }


XY = item(x={"type": ["string", "number"]}, y=NUMBER)
SERIES = item(legend=TEXT, values={"type": "array", "minItems": 1, "items": XY}, color=COLOR)
SHAPES: dict[str, dict[str, Any]] = {
    "Chart.Donut": chart(item(legend=TEXT, value=NUMBER, color=COLOR), thickness={}, value={}),
    "Chart.Pie": chart(item(legend=TEXT, value=NUMBER, color=COLOR)),
    "Chart.VerticalBar": chart(
        item(x={"type": ["string", "number"]}, y=NUMBER, color=COLOR),
        showBarValues={"type": "boolean"},
        **AXES,
    ),
    "Chart.VerticalBar.Grouped": chart(
        SERIES, stacked={"type": "boolean"}, showBarValues={"type": "boolean"}, **AXES
    ),
    "Chart.HorizontalBar": chart(
        item(x=TEXT, y=NUMBER, color=COLOR),
        displayMode={"enum": ["AbsoluteWithAxis", "AbsoluteNoAxis", "PartToWhole"]},
        **AXES,
    ),
    "Chart.Line": chart(SERIES, **AXES),
}
FALLBACKS = {"FactSet", "Table", "TextBlock", "Container"}


def charts() -> Iterator[tuple[str, dict[str, Any]]]:
    for name in ("readiness.readiness_card", "report.report_card"):
        for i, build in enumerate(SAMPLES[name]):
            for node in walk(to_json(build())):
                if str(node.get("type", "")).startswith("Chart."):
                    yield f"{name}#{i}", node


CHARTS = list(charts())


def test_the_cards_use_teams_charts() -> None:
    kinds = {node["type"] for _, node in CHARTS}
    assert {
        "Chart.Donut",
        "Chart.HorizontalBar",
        "Chart.VerticalBar.Grouped",
        "Chart.Line",
    } <= kinds


@pytest.mark.parametrize(("where", "node"), CHARTS, ids=[f"{w}-{n['type']}" for w, n in CHARTS])
def test_each_chart_has_the_documented_shape_and_a_fallback(
    where: str, node: dict[str, Any]
) -> None:
    shape = SHAPES.get(node["type"])
    assert shape is not None, f"{where}: {node['type']} isn't a chart type Teams documents"
    jsonschema.validate(node, shape)
    fallback = node["fallback"]
    assert fallback["type"] in FALLBACKS
    shown = " ".join(str(n.get(k, "")) for n in walk(fallback) for k in ("title", "value", "text"))
    if node["type"] == "Chart.VerticalBar.Grouped":
        # The time to resolve: hours on the chart, the same durations in words in the fallback.
        assert all(series["legend"] in shown for series in node["data"]), (where, shown)
        return
    for point in node["data"]:
        values = (
            [point["value"]] if "value" in point else [v["y"] for v in point.get("values", [point])]
        )
        for value in values:
            assert f"{value:g}" in shown, (where, value, shown)


def test_a_wrong_shape_is_caught() -> None:
    bad = {
        "type": "Chart.Donut",
        "data": [{"label": "x", "value": 1}],
        "fallback": {"type": "FactSet"},
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SHAPES["Chart.Donut"])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            {**bad, "data": [{"legend": "x", "value": 1}], "fallback": None}, SHAPES["Chart.Donut"]
        )
