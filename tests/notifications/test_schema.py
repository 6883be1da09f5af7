"""The body's contract: the published files, and validation that names the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hypothesis
import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import ValidationError
from bot.notifications.model import BodyError, load_json, validate_notification
from bot.notifications.openapi import openapi_document, render
from bot.notifications.schema import notification_schema
from tests.notifications.support import example

API = Path(__file__).resolve().parents[2] / "api"


def test_published_files_match_the_code() -> None:
    assert (API / "notification.schema.json").read_text() == render(notification_schema()), (
        "run: python -m bot.notifications.openapi --write api"
    )
    assert (API / "openapi.json").read_text() == render(openapi_document())


def test_the_schema_is_valid_and_accepts_the_example() -> None:
    schema = notification_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(example())


def test_the_openapi_document_embeds_the_same_body_schema() -> None:
    doc = openapi_document()
    assert doc["openapi"].startswith("3.1")
    body = doc["paths"]["/api/notifications"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["$ref"].endswith("IncidentNotification")
    text = json.dumps(doc)
    assert "#/$defs/" not in text
    resolver = {"components": doc["components"]}
    validator = jsonschema.Draft202012Validator(
        {**doc["components"]["schemas"]["IncidentNotification"], **resolver}
    )
    validator.validate(example())


def test_the_example_parses_into_a_notification() -> None:
    n = validate_notification(example())
    assert n.incident_id == "2972395" and n.revision == 1 and n.severity == "high"
    assert [d.name for d in n.devices] == ["fin-ws-042.contoso.com"]
    assert [u.name for u in n.users] == ["jdoe@contoso.com"]
    assert [a.id for a in n.completed] == ["a1"] and [a.id for a in n.pending] == ["a2"]


def test_unknown_extra_fields_are_kept() -> None:
    body = example()
    body["incident"]["customTags"] = ["x"]
    body["incident"]["futureField"] = {"nested": True}
    body["extra"] = 1
    n = validate_notification(body)
    assert n.raw["incident"]["futureField"] == {"nested": True} and n.raw["extra"] == 1


def _set(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    node: Any = body
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node[part]
    last = parts[-1]
    if value is KeyError:
        del node[last]
    elif last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return body


CASES = [
    ("type", "incident.created", "type"),
    ("incident.severity", "critical", "incident.severity"),
    ("incident.status", "closed", "incident.status"),
    ("incident.classification", "maybe", "incident.classification"),
    ("incident.determination", "aliens", "incident.determination"),
    ("incident.displayName", KeyError, "incident.displayName"),
    ("incident.displayName", "x" * 513, "incident.displayName"),
    ("incident.id", "../etc", "incident.id"),
    ("incident.incidentWebUrl", "javascript:alert(1)", "incident.incidentWebUrl"),
    ("incident.createdDateTime", "yesterday", "incident.createdDateTime"),
    ("incident.createdDateTime", "2026-13-45T10:02:11Z", "incident.createdDateTime"),
    ("managedResponse.revision", 0, "managedResponse.revision"),
    ("managedResponse.revision", "2", "managedResponse.revision"),
    ("managedResponse.revision", True, "managedResponse.revision"),
    ("managedResponse.summary", KeyError, "managedResponse.summary"),
    ("managedResponse.completedActions.0.type", "nuke", "managedResponse.completedActions[0].type"),
    (
        "managedResponse.completedActions.0.target.kind",
        "user",
        "managedResponse.completedActions[0].target.kind",
    ),
    (
        "managedResponse.pendingActions.0.id",
        "a1",
        "managedResponse.pendingActions[0].id",
    ),
    (
        "managedResponse.pendingActions.0.target",
        KeyError,
        "managedResponse.pendingActions[0].target",
    ),
    (
        "incident.alerts.0.evidence.0.deviceDnsName",
        42,
        "incident.alerts[0].evidence[0].deviceDnsName",
    ),
]


@pytest.mark.parametrize(("path", "value", "field"), CASES)
def test_invalid_bodies_name_the_field(path: str, value: Any, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate_notification(_set(example(), path, value))
    assert info.value.field == field
    assert field in info.value.message
    assert len(info.value.message) < 400


def test_a_huge_value_is_not_echoed() -> None:
    with pytest.raises(ValidationError) as info:
        validate_notification(_set(example(), "incident.severity", "x" * 100_000))
    assert len(info.value.message) < 300


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b"\xff\xfe", b"NaN", b'{"a": Infinity}', b"[" * 100_000, b"[" * 40 + b"]" * 40],
)
def test_bodies_that_are_not_plain_json_are_refused(body: bytes) -> None:
    with pytest.raises(BodyError):
        load_json(body)


@pytest.mark.parametrize("document", [None, [], "x", 1, {}, {"type": "incident.notification"}])
def test_non_objects_are_refused(document: Any) -> None:
    with pytest.raises(ValidationError):
        validate_notification(document)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
SCHEMA_PATHS = [
    ("type",),
    ("incident", "id"),
    ("incident", "severity"),
    ("incident", "status"),
    ("incident", "assignedTo"),
    ("incident", "classification"),
    ("incident", "determination"),
    ("incident", "incidentWebUrl"),
    ("incident", "createdDateTime"),
    ("incident", "alerts", 0, "id"),
    ("incident", "alerts", 0, "mitreTechniques"),
    ("incident", "alerts", 0, "evidence", 0, "deviceDnsName"),
    ("incident", "alerts", 0, "evidence", 1, "userAccount"),
    ("managedResponse", "revision"),
    ("managedResponse", "summary"),
    ("managedResponse", "completedActions", 0, "status"),
    ("managedResponse", "completedActions", 0, "target", "kind"),
    ("managedResponse", "pendingActions", 0, "id"),
    ("managedResponse", "pendingActions", 0, "instructions"),
    ("managedResponse", "analyst"),
]
interesting = st.one_of(
    json_values,
    st.sampled_from(["high", "inProgress", "truePositive", "device", "a b", "x\n", 1.0, 2**60]),
    st.text(max_size=3000),
)


def _accepted(body: Any) -> bool:
    try:
        validate_notification(body)
    except ValidationError:
        return False
    return True


@settings(max_examples=400, deadline=None)
@hypothesis.example(changes=[(("incident", "id"), "x\n", False)])
@hypothesis.example(changes=[(("incident", "incidentWebUrl"), "https://x.example/\n", False)])
@hypothesis.example(changes=[(("managedResponse", "revision"), 1.0, False)])
@given(
    changes=st.lists(
        st.tuples(st.sampled_from(SCHEMA_PATHS), interesting, st.booleans()), max_size=3
    )
)
def test_the_published_schema_never_accepts_less_than_the_models(
    changes: list[tuple[tuple[Any, ...], Any, bool]],
) -> None:
    """One source: whatever the models accept, the published JSON Schema accepts. Where they
    differ, the models are the stricter: a final newline ("$" in Python's re, which
    jsonschema uses, matches before it), 1.0 as an integer, a date like 2026-13-45, and the
    relations between fields (unique action ids, target kinds)."""
    body = example()
    for path, value, delete in changes:
        node: Any = body
        for key in path[:-1]:
            node = node[key]
        if delete and isinstance(path[-1], str):
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value
    published = jsonschema.Draft202012Validator(notification_schema()).is_valid(body)
    if _accepted(body):
        assert published


@pytest.mark.parametrize(
    "path", ["incident.id", "managedResponse.pendingActions.0.id", "incident.incidentWebUrl"]
)
def test_ids_with_a_trailing_newline_are_refused(path: str) -> None:
    body = example()
    current = _get(body, path)
    with pytest.raises(ValidationError) as info:
        validate_notification(_set(body, path, current + "\n"))
    assert info.value.field == path.replace(".0.", "[0].")


def _get(body: dict[str, Any], path: str) -> Any:
    node: Any = body
    for part in path.split("."):
        node = node[int(part)] if part.isdigit() else node[part]
    return node


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"type": "incident.notification", "extra": 1e400}', "non-finite"),
        (b'{"a": {"b": [1, -1e999]}}', "non-finite"),
        (b'{"a": NaN}', "non-finite"),
        (b'{"type": "x", "type": "incident.notification"}', "repeats the key 'type'"),
        (b'{"incident": {"id": "1", "id": "2"}}', "repeats the key 'id'"),
    ],
)
def test_non_finite_numbers_and_repeated_keys_are_refused(body: bytes, reason: str) -> None:
    with pytest.raises(BodyError) as info:
        load_json(body)
    assert reason in str(info.value)


def test_every_message_names_its_field_and_enums_list_graphs_values() -> None:
    with pytest.raises(ValidationError) as info:
        validate_notification(_set(example(), "incident.determination", "aliens"))
    message = info.value.message
    assert message.startswith("incident.determination must be one of: ")
    assert "'confirmedActivity'" in message and "'confirmedUserActivity'" in message
    assert "(got 'aliens')" in message


@pytest.mark.parametrize(
    ("nesting", "padding", "refused"),
    [
        (32, 0, False),  # at the limit, and few brackets: not walked
        (33, 0, True),
        (32, 40, False),  # at the limit among many shallow objects: walked
        (33, 40, True),
    ],
)
def test_nesting_is_bounded_whatever_else_the_body_holds(
    nesting: int, padding: int, refused: bool
) -> None:
    deep: Any = 1
    for _ in range(nesting - 1):
        deep = [deep]
    body = json.dumps({"deep": deep, "flat": [{"i": i} for i in range(padding)]}).encode()
    if refused:
        with pytest.raises(BodyError, match="nested more than 32 levels"):
            load_json(body)
    else:
        assert load_json(body)["flat"] == [{"i": i} for i in range(padding)]
