"""The progress card and the welcome post: valid Adaptive Cards 1.5, in every phase."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import jsonschema
import pytest

from bot.provisioning.model import Failure, Progress, Status, Step, TeamsRecord
from bot.provisioning.service import ProvisioningService
from bot.storage.memory import MemoryStore
from bot.tenant.demo import DemoTenantDirectory
from cards import to_json
from cards.provisioning import (
    REFRESH,
    RETRY,
    WelcomePostView,
    progress_card,
    welcome_post_card,
)
from cards.views import Notice
from tests.messenger import FakeMessenger
from tests.provisioning.support import open_urls
from tests.support import actions, texts

VALIDATOR = jsonschema.Draft6Validator(
    json.loads(resources.files("adaptive_cards").joinpath("schemas/schema-1.5.json").read_text())
)
HOSTILE = '**bold** <at>x</at> [link](https://attacker.example) "}]}'


class _NoProvisioner:
    pass


def service() -> ProvisioningService:
    return ProvisioningService(
        MemoryStore(),
        _NoProvisioner(),  # type: ignore[arg-type]
        FakeMessenger(),
        DemoTenantDirectory.load(),
    )


RECORDS = {
    "running": TeamsRecord("t", step=Step.ENSURE_CHANNEL),
    "waiting": TeamsRecord("t", status=Status.WAITING, step=Step.AWAIT_INSTALLATION),
    "ready": TeamsRecord(
        "t", status=Status.READY, step=Step.WELCOME, channel_url="https://teams.microsoft.com/l/x"
    ),
    "failed": TeamsRecord(
        "t",
        status=Status.FAILED,
        step=Step.INSTALL_APP,
        failure=Failure("missing_permissions", "Missing", HOSTILE, ("Channel.Create",), 3),
    ),
    "removed": TeamsRecord("t", status=Status.REMOVED, step=Step.WELCOME),
    "off": TeamsRecord("t", enabled=False, status=Status.READY, step=Step.WELCOME),
}


@pytest.mark.parametrize("phase", list(RECORDS))
def test_progress_cards_are_valid(phase: str) -> None:
    card = to_json(progress_card(service().view(RECORDS[phase], Notice(HOSTILE))))
    VALIDATOR.validate(card)
    assert all(a.get("verb") for a in actions(card))


def test_what_each_phase_offers() -> None:
    view = service().view
    running = to_json(progress_card(view(RECORDS["running"])))
    assert "Step 2 of 5: Create the Managed response channel" in texts(running)
    assert [a["verb"] for a in actions(running)] == [REFRESH]
    ready = to_json(progress_card(view(RECORDS["ready"])))
    assert [u["title"] for u in open_urls(ready)] == ["Open Teams channel"]
    assert not actions(ready)
    failed = to_json(progress_card(view(RECORDS["failed"])))
    assert [a["verb"] for a in actions(failed)] == [RETRY]
    assert "Channel.Create" in texts(failed)
    text = texts(failed)
    assert "3. " in text and "Failed" in text and "Done" in text and "Not started" in text
    off = to_json(progress_card(view(RECORDS["off"])))
    assert "Teams communication is off" in texts(off) and not actions(off)


def test_the_welcome_post_is_valid() -> None:
    card = to_json(welcome_post_card(WelcomePostView("Defender Experts team", "Managed response")))
    VALIDATOR.validate(card)
    text = texts(card)
    assert "Manage team" in text and "Add member" in text and "cannot be reversed" in text


def test_records_round_trip() -> None:
    record = TeamsRecord(
        "t",
        status=Status.FAILED,
        step=Step.INSTALL_APP,
        team_id="g",
        channel_id="c",
        team_reference={"conversation": {"id": "19:t"}},
        progress=Progress({"conversation": {"id": "a:1"}}, "p1"),
        failure=Failure("app_blocked", "Blocked", "Do this", (), 3, "rid", "now"),
    )
    data: dict[str, Any] = json.loads(json.dumps(record.to_json()))
    assert TeamsRecord.from_json(data) == record
    assert data["aadGroupId"] == "g" and data["state"] == "failed"
    assert TeamsRecord.from_json({"state": "bogus", "step": 9}).step is Step.CREATE_TEAM
