"""Every value Microsoft Graph defines for the incident's enums is accepted and shown readably.

The lists are copied from Microsoft Graph v1.0 (namespace microsoft.graph.security): the enum
types alertSeverity, incidentStatus, alertClassification and alertDetermination, as Graph
serializes them. The incident resource's prose still says ``confirmedUserActivity`` where the
enum type has ``confirmedActivity``, so both are accepted.
"""

from __future__ import annotations

import re

import pytest

from bot.errors import ValidationError
from bot.notifications.mail import incident_email
from bot.notifications.model import (
    CLASSIFICATION_LABELS,
    DETERMINATION_LABELS,
    SEVERITY_LABELS,
    STATUS_LABELS,
    validate_notification,
)
from bot.notifications.render import card_json, what_changed
from tests.notifications.support import example
from tests.support import texts

GRAPH_SEVERITY = ("unknown", "informational", "low", "medium", "high", "unknownFutureValue")
GRAPH_STATUS = (
    "active",
    "resolved",
    "inProgress",
    "redirected",
    "unknownFutureValue",
    "awaitingAction",
)
GRAPH_CLASSIFICATION = (
    "unknown",
    "falsePositive",
    "truePositive",
    "informationalExpectedActivity",
    "unknownFutureValue",
)
GRAPH_DETERMINATION = (
    "unknown",
    "apt",
    "malware",
    "securityPersonnel",
    "securityTesting",
    "unwantedSoftware",
    "other",
    "multiStagedAttack",
    "compromisedAccount",
    "phishing",
    "maliciousUserActivity",
    "notMalicious",
    "notEnoughDataToValidate",
    "confirmedActivity",
    "lineOfBusinessApplication",
    "unknownFutureValue",
    "confirmedUserActivity",  # the incident resource's prose; the enum type says confirmedActivity
)
FIELDS = {
    "severity": (GRAPH_SEVERITY, SEVERITY_LABELS),
    "status": (GRAPH_STATUS, STATUS_LABELS),
    "classification": (GRAPH_CLASSIFICATION, CLASSIFICATION_LABELS),
    "determination": (GRAPH_DETERMINATION, DETERMINATION_LABELS),
}
CASES = [(name, value) for name, (values, _) in FIELDS.items() for value in values]
_CAMEL = re.compile(r"[a-z][A-Z]")


def readable(label: str) -> bool:
    """Words people read, not an enum member: capitalized, no camelCase."""
    return bool(label) and label[0].isupper() and not _CAMEL.search(label)


@pytest.mark.parametrize(("name", "value"), CASES)
def test_every_graph_value_is_accepted_and_shown_readably(name: str, value: str) -> None:
    n = validate_notification(example(**{name: value}))
    assert getattr(n, name) == value
    label = FIELDS[name][1][value]
    assert readable(label), (value, label)
    card = texts(card_json(n, {}))
    assert label in card
    assert value not in card.split() or value.islower()  # never the raw camelCase member
    mail = incident_email(n, message_id="m", to=("a@contoso.com",), reason="Because.").text
    assert label in mail


@pytest.mark.parametrize(("name", "value"), CASES)
def test_a_change_to_any_graph_value_is_told_readably(name: str, value: str) -> None:
    before = validate_notification(example())
    after = validate_notification(example(2, **{name: value}))
    reply = what_changed(before, after)
    assert not _CAMEL.search(reply.replace("**", "")), reply


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("determination", "compromisedUser"),
        ("determination", "clean"),
        ("determination", "insufficientData"),
        ("severity", "critical"),
        ("status", "closed"),
        ("classification", "benignPositive"),
    ],
)
def test_values_graph_does_not_define_are_refused_naming_the_field(name: str, value: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate_notification(example(**{name: value}))
    assert info.value.field == f"incident.{name}"


def test_every_accepted_value_has_a_label() -> None:
    from bot.notifications import schema

    for values, labels in (
        (schema.SEVERITIES, SEVERITY_LABELS),
        (schema.STATUSES, STATUS_LABELS),
        (schema.CLASSIFICATIONS, CLASSIFICATION_LABELS),
        (schema.DETERMINATIONS, DETERMINATION_LABELS),
    ):
        assert set(values) == set(labels)
