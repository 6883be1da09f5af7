"""Every card: valid against the Adaptive Card 1.5 schema, every action with a verb."""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from typing import Any

import jsonschema
import pytest

from cards import to_json
from cards.common import THREAD_REPLIES
from cards.elements import AdaptiveCard
from cards.messages import help_card, message_card, not_authorized_card, welcome_card
from cards.provisioning import WelcomePostView, welcome_post_card
from cards.setup import (
    contacts_card,
    exclusions_card,
    mark_changes,
    permissions_card,
    review_card,
    settings_card,
    submitted_card,
    teams_card,
)
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
from tests.cards.samples import all_cases
from tests.support import actions, texts, walk

HOSTILE = 'Fin"ance"}]} <script>alert(1)</script> **bold** {{x}}'


def _schema() -> dict[str, Any]:
    text = resources.files("adaptive_cards").joinpath("schemas/schema-1.5.json").read_text()
    return json.loads(text)  # type: ignore[no-any-return]


SCHEMA = _schema()
VALIDATOR = jsonschema.Draft6Validator(SCHEMA)


def as_1_5(node: Any) -> Any:
    """What a 1.5 client reads: an element the 1.5 schema doesn't define (Teams' charts) is
    replaced by its declared fallback, as the spec asks of a client that doesn't know it."""
    if isinstance(node, list):
        return [as_1_5(n) for n in node]
    if not isinstance(node, dict):
        return node
    kind = node.get("type")
    if isinstance(kind, str) and kind not in SCHEMA["definitions"] and "fallback" in node:
        return as_1_5(node["fallback"])
    if kind == "Table" and "firstRowAsHeaders" in node:
        # The official renderer and Teams read "firstRowAsHeaders"; the bundled schema-1.5.json
        # spells it "firstRowAsHeader".
        node = {("firstRowAsHeader" if k == "firstRowAsHeaders" else k): v for k, v in node.items()}
    return {k: as_1_5(v) for k, v in node.items()}


SECTIONS = (
    Section("permissions", "Permissions", (("a", "b"),)),
    Section("contacts", "Notification contacts", ()),
)
tab = GroupTabView("fin", (Option("1", HOSTILE),), (Option("2", "Domain controllers"),), True)
empty_tab = GroupTabView("", (), (), False)
CASES: dict[str, Callable[[], AdaptiveCard]] = {
    "permissions": lambda: permissions_card(PermissionsView(1, True, False)),
    "permissions-edit": lambda: permissions_card(
        PermissionsView(3, True, True, "edit", Notice("x", "error"))
    ),
    "exclusions": lambda: exclusions_card(ExclusionsView(2, tab, empty_tab)),
    "exclusions-empty": lambda: exclusions_card(
        ExclusionsView(2, empty_tab, empty_tab, "edit", Notice("n", "good"))
    ),
    "contacts": lambda: contacts_card(
        ContactsView(
            4,
            "sec",
            (Option("g1", "Security Operations", "secops@contoso.com"),),
            (ContactRow("u1", HOSTILE, "a@b.c", "serviceReview", "Service review", "+1425"),),
            notice=Notice("warn", "warning"),
        )
    ),
    "contacts-empty": lambda: contacts_card(ContactsView(4, "", (), ())),
    "teams": lambda: teams_card(TeamsView(5, False)),
    "review": lambda: review_card(ReviewView(6, SECTIONS, notice=Notice("i", "info"))),
    "submitted": lambda: submitted_card(SubmittedView(1, True, "Alex")),
    "settings": lambda: settings_card(SettingsView(2, SECTIONS, "Alex", "2026-11-27 10:00 UTC")),
    "settings-empty": lambda: settings_card(SettingsView(0, ())),
    "welcome": lambda: welcome_card(WelcomeView("Alex", False)),
    "welcome-configured": lambda: welcome_card(WelcomeView("", True)),
    "help": lambda: help_card(HelpView((Command("setup", "Run setup"),))),
    "not-authorized": lambda: not_authorized_card(NotAuthorizedView(("Global Administrator",))),
    "message": lambda: message_card(MessageView("T", "x", (("settings.show", "View"),))),
}


SAMPLES = all_cases()


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_card_is_valid_adaptive_card_1_5(name: str) -> None:
    card = as_1_5(to_json(SAMPLES[name]()))
    errors = sorted(VALIDATOR.iter_errors(card), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message[:200]}" for e in errors]
    assert card["version"] == "1.5"


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_action_has_a_verb_and_json_data(name: str) -> None:
    card = to_json(SAMPLES[name]())
    for act in actions(card):
        assert act["verb"], act
        assert isinstance(act.get("data", {}), dict)
    assert not [n for n in walk(card) if n.get("type") == "Action.Submit"]


def test_input_ids_are_unique_per_card() -> None:
    for name, build in CASES.items():
        ids = [n["id"] for n in walk(to_json(build())) if "id" in n]
        assert len(ids) == len(set(ids)), name


def test_user_data_stays_data() -> None:
    card = to_json(CASES["exclusions"]())
    again = json.loads(json.dumps(card))
    choices = next(n for n in walk(again) if n.get("type") == "Input.ChoiceSet")["choices"]
    assert choices[0]["title"] == HOSTILE


def test_schema_validator_catches_a_broken_card() -> None:
    card = to_json(CASES["teams"]())
    card["body"].append({"type": "Input.Toggle", "title": "no id"})
    assert list(VALIDATOR.iter_errors(card))


def test_permissions_card_uses_the_product_labels() -> None:
    text = json.dumps(to_json(CASES["permissions"]()))
    for label in (
        "Investigate incidents and guide my responses",
        "Security Reader",
        "Respond directly to active threats",
        "Security Operator",
        "Manage exclusions",
        "Service provider access",
    ):
        assert label in text


def test_teams_card_warns_and_names_the_roles() -> None:
    text = json.dumps(to_json(CASES["teams"]()))
    for phrase in (
        "Communicate on Teams",
        "Defender Experts team",
        "Managed response",
        "cannot be reversed",
        "Global Administrator",
        "Security Administrator",
        "Microsoft Teams license",
    ):
        assert phrase in text


def test_the_default_access_is_shown_granted_not_as_a_box_to_untick() -> None:
    for respond in (False, True):
        card = to_json(permissions_card(PermissionsView(1, True, respond)))
        assert [n["id"] for n in walk(card) if n.get("type") == "Input.Toggle"] == ["respond"]
        assert "Security Reader · always granted" in texts(card)


def test_the_review_of_an_edit_highlights_what_changed() -> None:
    changed = Section(
        "permissions", "Permissions", (("Respond", "On"), ("Investigate", "On")), ("Respond",)
    )
    card = to_json(review_card(ReviewView(6, (changed, SECTIONS[1]), "edit")))
    text = texts(card)
    assert "You changed: Permissions." in text
    assert "Permissions · Changed" in text and "Respond (changed)" in text
    assert "Investigate (changed)" not in text and "Notification contacts · Changed" not in text
    boxes = [n for n in walk(card) if n.get("type") == "Container" and n.get("style")]
    assert [b["style"] for b in boxes] == ["emphasis"]
    unchanged = to_json(review_card(ReviewView(6, SECTIONS, "edit")))
    assert "Nothing is changed yet." in texts(unchanged)
    assert "Changed" not in texts(to_json(review_card(ReviewView(6, SECTIONS))))


def test_help_after_setup_offers_settings_not_get_started() -> None:
    before = to_json(help_card(HelpView((Command("setup", "Run setup"),))))
    after = to_json(help_card(HelpView((Command("settings", "Settings"),), configured=True)))
    assert [a["title"] for a in actions(before)] == ["Get started", "Ask Defender Experts"]
    assert [a["title"] for a in actions(after)] == ["View settings", "Ask Defender Experts"]


def test_contact_phone_numbers_are_shown_grouped() -> None:
    row = ContactRow(
        "u1", "Megan", "m@contoso.com", "incidentNotification", "Incident", "+14255550100"
    )
    card = to_json(contacts_card(ContactsView(4, "", (), (row,))))
    assert "+1 425 555 0100" in texts(card)


def test_view_readiness_assessment_answers_with_a_new_card() -> None:
    card = to_json(submitted_card(SubmittedView(1, True, "Alex")))
    button = next(a for a in actions(card) if a["title"] == "View readiness assessment")
    assert button["data"] == {"answer": "newCard"}


def test_the_welcome_post_and_the_teams_step_say_how_chat_with_the_experts_works() -> None:
    """Live chat exists (tests/chat): both say where to reply and what the experts can't see."""
    welcome = welcome_post_card(WelcomePostView("Defender Experts team", "Managed response"))
    for built in (welcome, teams_card(TeamsView(5, False))):
        text = texts(to_json(built))
        assert THREAD_REPLIES in text
        assert "not new posts" in text and "can't view attachments" in text


def test_changes_are_marked_against_the_saved_settings() -> None:
    saved = (
        Section("permissions", "Permissions", (("Respond", "Not granted"), ("Investigate", "On"))),
        Section(
            "contacts",
            "Notification contacts",
            (("Incident notification", "Patti"), ("Incident notification", "SecOps")),
        ),
        Section("teams", "Teams", (("Communicate on Teams", "On"),)),
    )
    now = (
        Section("permissions", "Permissions", (("Respond", "Granted"), ("Investigate", "On"))),
        Section("contacts", "Notification contacts", (("Incident notification", "SecOps"),)),
        saved[2],
    )
    permissions, contacts, teams = mark_changes(now, saved)
    assert permissions.changed == ("Respond",) and permissions.facts == now[0].facts
    assert contacts.changed == ("Removed: Incident notification",)
    assert ("Removed: Incident notification", "Patti") in contacts.facts
    assert teams.changed == ()
    assert all(not s.changed for s in mark_changes(saved, saved))
