"""The typed card elements and their serializer: names, order, omitted values, nesting, and
every enumerated value the types allow, checked against the Adaptive Card 1.5 schema."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

import jsonschema
import pytest

from cards import elements, to_json
from cards.common import card, execute, para
from cards.elements import (
    ActionSet,
    AdaptiveCard,
    Block,
    ChoiceSetInput,
    Column,
    ColumnDefinition,
    Container,
    DonutChart,
    DonutChartData,
    Element,
    ExecuteAction,
    Fact,
    FactSet,
    LineChart,
    LineChartData,
    LineChartValue,
    ShowCardAction,
    Table,
    TableCell,
    TableRow,
    TextBlock,
    TextInput,
    dump,
)
from tests.cards.test_cards import SCHEMA, as_1_5

PARTS = {"Fact": "Fact", "Choice": "Input.Choice", "ColumnDefinition": "TableColumnDefinition"}
"""Models without a ``type`` of their own, and their name in the schema."""
MODELS = [
    m
    for m in vars(elements).values()
    if isinstance(m, type) and issubclass(m, Element) and m not in (Element, Block)
]


def _schema_name(model: type[Element]) -> str:
    return model.TYPE or PARTS.get(model.__name__, "")


def _validator(name: str) -> jsonschema.Draft6Validator:
    return jsonschema.Draft6Validator(
        {"$ref": f"#/definitions/{name}", "definitions": SCHEMA["definitions"]}
    )


def _options(hint: Any) -> list[Any]:
    """The alternatives of a union (None dropped), or the hint itself."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return [a for a in typing.get_args(hint) if a is not type(None)]
    return [hint]


def _sample(hint: Any) -> Any:
    """A value of the hinted type: the first alternative, the first literal, one item."""
    hint = _options(hint)[0]
    origin = typing.get_origin(hint)
    if origin is Literal:
        return typing.get_args(hint)[0]
    if origin in (Sequence, list):
        return [_sample(typing.get_args(hint)[0])]
    if origin in (Mapping, dict):
        return {"k": 1}
    if isinstance(hint, type) and issubclass(hint, Element):
        return _full(hint)
    return {bool: True, str: "x", int: 1, float: 1.5}[hint]


def _full(model: type[Element]) -> Any:
    """The model with every field set."""
    hints = typing.get_type_hints(model)
    return model(**{f.name: _sample(hints[f.name]) for f in dataclasses.fields(model)})  # type: ignore[arg-type]


def _literal_variants(model: type[Element]) -> Iterator[tuple[str, Any]]:
    """The model once for each value of each enumerated field."""
    hints = typing.get_type_hints(model)
    for f in dataclasses.fields(model):  # type: ignore[arg-type]
        for option in _options(hints[f.name]):
            if typing.get_origin(option) is Literal:
                for value in typing.get_args(option):
                    yield f"{f.name}={value}", dataclasses.replace(_full(model), **{f.name: value})


def test_the_models_cover_what_the_cards_use() -> None:
    names = {m.__name__ for m in MODELS}
    assert len(MODELS) == 32
    assert {"AdaptiveCard", "TextBlock", "ExecuteAction", "DonutChart", "TableCell"} <= names


@pytest.mark.parametrize("model", [m for m in MODELS if _schema_name(m) in SCHEMA["definitions"]])
def test_every_field_and_enumerated_value_is_valid_1_5(model: type[Element]) -> None:
    validator = _validator(_schema_name(model))
    full = as_1_5(dump(_full(model)))
    assert not [e.message for e in validator.iter_errors(full)], full
    for label, variant in _literal_variants(model):
        errors = [e.message for e in validator.iter_errors(as_1_5(dump(variant)))]
        assert not errors, (label, errors)


def test_the_schema_check_catches_a_wrong_name_and_a_wrong_value() -> None:
    validator = _validator("TextBlock")
    assert list(validator.iter_errors({"type": "TextBlock", "text": "x", "is_subtle": True}))
    assert list(validator.iter_errors({"type": "TextBlock", "text": "x", "size": "Huge"}))


def test_type_comes_first_then_fields_in_order_under_camel_case_names() -> None:
    data = dump(
        TextInput(id="phone", label="Phone", max_length=32, style="Tel", separator=True, value="+1")
    )
    assert list(data.items()) == [
        ("type", "Input.Text"),
        ("separator", True),
        ("id", "phone"),
        ("label", "Phone"),
        ("value", "+1"),
        ("maxLength", 32),
        ("style", "Tel"),
    ]
    assert dump(TextBlock(text="t", is_subtle=False, spacing="None")) == {
        "type": "TextBlock",
        "spacing": "None",
        "text": "t",
        "isSubtle": False,
    }
    assert dump(Column(items=[], vertical_content_alignment="Bottom", width="auto")) == {
        "type": "Column",
        "verticalContentAlignment": "Bottom",
        "width": "auto",
        "items": [],
    }
    table = Table(
        columns=[ColumnDefinition(width=2)],
        first_row_as_headers=True,
        show_grid_lines=True,
        rows=[TableRow(cells=[TableCell(items=[], style="good")])],
    )
    assert json.dumps(dump(table)) == (
        '{"type": "Table", "columns": [{"width": 2}], "firstRowAsHeaders": true, '
        '"showGridLines": true, "rows": [{"type": "TableRow", "cells": '
        '[{"type": "TableCell", "style": "good", "items": []}]}]}'
    )


def test_none_is_left_out_everywhere_but_false_and_empty_stay() -> None:
    action = ExecuteAction(title="Go", verb="x.go", data={"rev": 1, "gone": None, "no": False})
    assert dump(action) == {
        "type": "Action.Execute",
        "title": "Go",
        "data": {"rev": 1, "no": False},
        "verb": "x.go",
    }
    assert dump(ChoiceSetInput(id="c", choices=[], value=None)) == {
        "type": "Input.ChoiceSet",
        "id": "c",
        "choices": [],
    }
    assert "actions" not in to_json(card([para("x")]))


def test_actions_nest_in_action_sets_and_show_cards() -> None:
    inner = AdaptiveCard(body=[para("Sure?")], actions=[execute("Yes", "x.yes", {"id": ("a",)})])
    outer = to_json(
        AdaptiveCard(
            body=[ActionSet(actions=[ShowCardAction(title="Do it", card=inner)])],
            fallback_text="Do it",
        )
    )
    assert outer == {
        "type": "AdaptiveCard",
        "version": "1.5",
        "fallbackText": "Do it",
        "body": [
            {
                "type": "ActionSet",
                "actions": [
                    {
                        "type": "Action.ShowCard",
                        "title": "Do it",
                        "card": {
                            "type": "AdaptiveCard",
                            "version": "1.5",
                            "body": [{"type": "TextBlock", "text": "Sure?", "wrap": True}],
                            "actions": [
                                {
                                    "type": "Action.Execute",
                                    "title": "Yes",
                                    "data": {"id": ["a"]},
                                    "associatedInputs": "auto",
                                    "verb": "x.yes",
                                }
                            ],
                        },
                    }
                ],
            }
        ],
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
    }


def test_charts_use_teams_names_and_keep_their_fallback() -> None:
    chart = LineChart(
        title="Per month",
        x_axis_title="Month",
        y_axis_title="Incidents",
        data=[LineChartData(legend="High", values=[LineChartValue(x="Jan", y=2)])],
        fallback=FactSet(facts=[Fact(title="Jan", value="2")]),
    )
    assert dump(chart) == {
        "type": "Chart.Line",
        "title": "Per month",
        "xAxisTitle": "Month",
        "yAxisTitle": "Incidents",
        "data": [{"legend": "High", "values": [{"x": "Jan", "y": 2}]}],
        "fallback": {"type": "FactSet", "facts": [{"title": "Jan", "value": "2"}]},
    }
    donut = DonutChart(data=[DonutChartData(legend="Protected", value=3)], fallback=None)
    assert dump(donut) == {"type": "Chart.Donut", "data": [{"legend": "Protected", "value": 3}]}


def test_models_are_frozen() -> None:
    box = Container(items=[])
    with pytest.raises(dataclasses.FrozenInstanceError):
        box.style = "good"  # type: ignore[misc]


def test_building_cards_imports_no_schema_library() -> None:
    code = (
        "import sys, cards.setup, cards.report, cards.incident, cards.readiness, cards.chat;"
        "print(sorted(m for m in sys.modules"
        " if m.split('.')[0] in ('pydantic', 'microsoft_teams')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
