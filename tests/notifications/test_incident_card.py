"""The incident card: Adaptive Card 1.5, what it shows, its buttons, its size, and escaping."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import jsonschema
import pytest

from bot.notifications.model import validate_notification
from bot.notifications.render import card_json, what_changed
from cards.incident_views import ACKNOWLEDGE, ACTION_COMPLETE, ACTION_SKIP
from tests.notifications.support import example, revised
from tests.support import texts, walk

TEAMS_CARD_LIMIT = 28 * 1024
HOSTILE = "[click me](https://evil.example) **now** _x_ <b>b</b>"


def _validator() -> jsonschema.Draft6Validator:
    text = resources.files("adaptive_cards").joinpath("schemas/schema-1.5.json").read_text()
    return jsonschema.Draft6Validator(json.loads(text))


VALIDATOR = _validator()


def doc_with(**parts: Any) -> dict[str, Any]:
    return {"responses": {}, "acknowledged": None, **parts}


def largest_body() -> dict[str, Any]:
    body = example()
    inc, mr = body["incident"], body["managedResponse"]
    inc["displayName"] = "D" * 512
    inc["alerts"] = [
        {
            "id": f"al{i}",
            "title": "T" * 512,
            "evidence": [
                {
                    "@odata.type": "#microsoft.graph.security.deviceEvidence",
                    "deviceDnsName": f"dev-{i}-{j}" + "x" * 200,
                    "mdeDeviceId": f"d{i}-{j}",
                }
                for j in range(2)
            ],
        }
        for i in range(100)
    ]
    mr["summary"] = "S" * 8000
    mr["completedActions"] = [
        {
            "id": f"c{i}",
            "type": "isolateDevice",
            "target": {"kind": "device", "id": f"d{i}", "name": "n" * 256},
            "status": "completed",
        }
        for i in range(50)
    ]
    mr["pendingActions"] = [
        {
            "id": f"p{i}",
            "type": "disableUser",
            "target": {"kind": "user", "id": f"u{i}", "name": "u" * 256},
            "instructions": "I" * 2000,
        }
        for i in range(50)
    ]
    return body


CASES = {
    "example": lambda: card_json(validate_notification(example()), doc_with()),
    "answered": lambda: card_json(
        validate_notification(example()),
        doc_with(
            responses={
                "a2": {"state": "skipped", "by": {"name": "Adele"}, "at": "2026-11-27T10:20:00Z"}
            },
            acknowledged={"by": {"name": "Megan"}, "at": "2026-11-27T10:21:00Z"},
        ),
    ),
    "resolved": lambda: card_json(validate_notification(revised(3)), doc_with()),
    "largest": lambda: card_json(validate_notification(largest_body()), doc_with()),
    "informational-empty": lambda: card_json(
        validate_notification(
            {
                **example(severity="informational", classification=None, determination=None),
                "managedResponse": {
                    "revision": 1,
                    "summary": "",
                    "completedActions": [],
                    "pendingActions": [],
                },
            }
        ),
        doc_with(),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_cards_are_valid_adaptive_cards_1_5(name: str) -> None:
    card = CASES[name]()
    assert card["version"] == "1.5"
    errors = sorted(VALIDATOR.iter_errors(card), key=lambda e: list(e.path))
    assert not errors, errors[0].message
    for action in walk(card):
        if action.get("type") == "Action.Execute":
            assert action["verb"].startswith("incident.")


def test_the_card_shows_what_the_customer_needs() -> None:
    card = CASES["example"]()
    text = texts(card)
    for expected in (
        "High severity",
        "Multi-stage incident on one endpoint",
        "In progress",
        "Defender Experts",
        "True positive",
        "Malware",
        "fin-ws-042.contoso.com",
        "jdoe@contoso.com",
        "A workstation in Finance connected to a known command-and-control server",
        "Completed actions",
        "Isolate device",
        "Completed",
        "Pending actions",
        "Force password reset",
        "Reset the password and revoke sessions.",
        "Pending",
    ):
        assert expected in text, expected
    header = card["body"][0]
    assert header["style"] == "attention"
    assert any("High severity" in i["text"] for i in header["items"])
    assert not [n for n in walk(card) if n.get("color", "Default") != "Default"]
    (open_url,) = [a for a in card["actions"] if a["type"] == "Action.OpenUrl"]
    assert open_url["title"] == "Open in Microsoft Defender"
    assert open_url["url"] == "https://security.microsoft.com/incidents/2972395"


def test_pending_buttons_ask_for_confirmation_first() -> None:
    card = CASES["example"]()
    shows = [n for n in walk(card) if n.get("type") == "Action.ShowCard"]
    assert [s["title"] for s in shows] == ["I've completed this action", "Skip this action"]
    inner = [s["card"]["actions"][0] for s in shows]
    assert [(a["title"], a["verb"]) for a in inner] == [
        ("Yes, I've done it", ACTION_COMPLETE),
        ("Yes, skip this action", ACTION_SKIP),
    ]
    assert all(
        a["data"] == {"incidentId": "2972395", "actionId": "a2", "revision": 1} for a in inner
    )
    ack = [a for a in card["actions"] if a.get("verb") == ACKNOWLEDGE]
    assert ack and ack[0]["data"]["incidentId"] == "2972395"


def test_answered_actions_show_who_and_when_without_buttons() -> None:
    card = CASES["answered"]()
    text = texts(card)
    assert "Skipped by Adele · 27 Nov 2026, 10:20 UTC" in text
    assert "Acknowledged by Megan · 27 Nov 2026, 10:21 UTC" in text
    assert not [n for n in walk(card) if n.get("type") == "Action.ShowCard"]
    assert not [a for a in card["actions"] if a.get("verb") == ACKNOWLEDGE]


def _section_texts(card: dict[str, Any], title: str) -> str:
    """The text between the section heading that starts with ``title`` and the next heading."""
    body = card["body"]
    start = next(i for i, n in enumerate(body) if str(n.get("text", "")).startswith(title))
    end = next(
        (
            i
            for i in range(start + 1, len(body))
            if body[i].get("type") == "TextBlock" and body[i].get("separator")
        ),
        len(body),
    )
    return texts({"body": body[start:end]})


def test_answered_actions_move_out_of_pending_actions() -> None:
    body = example()
    pending = body["managedResponse"]["pendingActions"]
    pending.append({**pending[0], "id": "a3", "type": "disableUser"})
    n = validate_notification(body)
    at = "2026-11-27T10:20:00Z"
    card = card_json(
        n,
        doc_with(
            responses={
                "a2": {"state": "completed", "by": {"name": "Alex Wilber"}, "at": at},
                "a3": {"state": "skipped", "by": {"name": "Adele"}, "at": at},
            }
        ),
    )
    assert "Nothing for you to do right now." in _section_texts(card, "Pending actions")
    assert "Completed by Alex Wilber" not in _section_texts(card, "Pending actions")
    assert "Completed by Alex Wilber · 27 Nov 2026, 10:20 UTC" in _section_texts(
        card, "Completed actions"
    )
    assert "Skipped by Adele" in _section_texts(card, "Skipped actions")
    half = card_json(
        n, doc_with(responses={"a2": {"state": "completed", "by": {"name": "A"}, "at": at}})
    )
    assert "Pending actions (1)" in texts(half)
    assert "Skipped actions" not in texts(half)


def test_the_largest_notification_fits_teams_card_limit() -> None:
    card = CASES["largest"]()
    assert len(json.dumps(card).encode()) < TEAMS_CARD_LIMIT
    assert "and 240 more" in texts(card)  # devices
    assert "And 40 more in Microsoft Defender." in texts(card)  # completed actions
    assert "And 42 more in Microsoft Defender." in texts(card)  # pending actions


def test_untrusted_text_cannot_make_links_or_emphasis() -> None:
    body = example(displayName=HOSTILE)
    body["incident"]["alerts"][0]["evidence"][0]["deviceDnsName"] = HOSTILE
    body["managedResponse"]["summary"] = "- " + HOSTILE
    card = card_json(validate_notification(body), doc_with())
    text = texts(card)
    assert "[click me](" not in text and "**now**" not in text
    assert r"\[click me\](https://evil.example) \*\*now\*\* \_x\_" in text
    assert r"\- \[click me\]" in text


def test_what_changed_names_status_classification_and_new_actions() -> None:
    before = validate_notification(example())
    after_body = revised(3)
    after_body["incident"]["classification"] = "falsePositive"
    after_body["incident"]["determination"] = "notMalicious"
    after_body["managedResponse"]["pendingActions"].append(
        {"id": "p9", "type": "enableUser", "target": {"kind": "user", "id": "u9", "name": "kim"}}
    )
    text = what_changed(before, validate_notification(after_body))
    assert text.startswith("**Update 3:**")
    assert "status In progress → **Resolved**" in text
    assert "classification **False positive** (Not malicious)" in text
    assert "Quarantine file on evil3.exe completed" in text
    assert "new pending action: Enable user on kim" in text
    same = what_changed(before, validate_notification(example(2)))
    assert same == "**Update 2:** the experts updated their findings."
