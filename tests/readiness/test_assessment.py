"""Each check from its signals: short, equal, over; on, off, missing; a signal that failed."""

from __future__ import annotations

import pytest

from bot.readiness.assessment import SignalRecord, evaluate, figures, ready_for_monitoring
from bot.readiness.catalogue import CONTROL_IDS, TAMPER_PROTECTION
from bot.readiness.ports import (
    Controls,
    DeviceCoverage,
    IdentityCoverage,
    Licences,
    ServiceChoices,
)
from bot.readiness.service import Mark

ALL_SET = ServiceChoices(True, True, True, True, True)


def records(
    endpoint: int = 10,
    identity: int = 10,
    reporting: int = 10,
    covered: int = 10,
    controls: dict[str, str] | None = None,
    stale: tuple[str, ...] = (),
) -> dict[str, SignalRecord]:
    values = {
        "licences": Licences(endpoint, identity).to_json(),
        "devices": DeviceCoverage(reporting, 0, 0).to_json(),
        "identities": IdentityCoverage(covered, 1, 0).to_json(),
        "controls": Controls.from_json(controls or dict.fromkeys(CONTROL_IDS, "on")).to_json(),
    }
    return {
        name: SignalRecord(value, "2026-12-01T00:00:00Z", name in stale, "Graph refused")
        for name, value in values.items()
    }


def status(states: list, check_id: str) -> str:  # type: ignore[type-arg]
    return next(s.status for s in states if s.check.id == check_id)


@pytest.mark.parametrize(
    ("reporting", "expected"), [(9, "completeNow"), (10, "completed"), (11, "completed")]
)
def test_devices_against_licences_short_equal_over(reporting: int, expected: str) -> None:
    states = evaluate(records(reporting=reporting), ALL_SET, {}, {})
    assert status(states, "devices") == expected
    devices, _ = figures(records(reporting=reporting))
    assert devices.remaining == max(0, 10 - reporting)


@pytest.mark.parametrize(
    ("covered", "expected"), [(0, "completeNow"), (10, "completed"), (12, "completed")]
)
def test_identities_against_licences(covered: int, expected: str) -> None:
    assert status(evaluate(records(covered=covered), ALL_SET, {}, {}), "identities") == expected


@pytest.mark.parametrize(
    ("state", "expected"), [("on", "completed"), ("off", "completeNow"), ("missing", "completeNow")]
)
def test_a_secure_score_control_on_off_missing(state: str, expected: str) -> None:
    controls = dict.fromkeys(CONTROL_IDS, "on") | {TAMPER_PROTECTION: state}
    assert status(evaluate(records(controls=controls), ALL_SET, {}, {}), "tamper") == expected


def test_a_failed_signal_never_turns_an_action_green() -> None:
    # The stale value says the control is on, but the last fresh read said it wasn't done.
    stale = records(stale=("controls",))
    states = evaluate(stale, ALL_SET, {}, {"tamper": "completeNow"})
    tamper = next(s for s in states if s.check.id == "tamper")
    assert tamper.status == "completeNow"
    assert tamper.stale and tamper.reason == "Graph refused"
    # A check already completed on a fresh read stays completed while its signal is stale.
    assert status(evaluate(stale, ALL_SET, {}, {"tamper": "completed"}), "tamper") == "completed"


def test_a_signal_never_read_counts_as_stale_and_not_done() -> None:
    states = evaluate({}, ALL_SET, {}, {})
    assert status(states, "devices") == "completeNow"
    assert next(s for s in states if s.check.id == "devices").stale


def test_a_mark_is_in_progress_until_the_signal_confirms() -> None:
    mark = {"tamper": Mark("u", "Alex Wilber", "2026-12-01T10:00:00Z")}
    off = dict.fromkeys(CONTROL_IDS, "on") | {TAMPER_PROTECTION: "off"}
    assert status(evaluate(records(controls=off), ALL_SET, mark, {}), "tamper") == "inProgress"
    assert status(evaluate(records(), ALL_SET, mark, {}), "tamper") == "completed"


def test_complete_now_comes_first() -> None:
    states = evaluate(records(reporting=1), ServiceChoices(), {}, {})
    order = [s.status for s in states]
    assert order == sorted(order, key=["completeNow", "inProgress", "completed"].index)


def test_settings_checks_follow_the_service_settings() -> None:
    none = evaluate(records(), ServiceChoices(), {}, {})
    assert {status(none, c) for c in ("incident-contact", "review-contact", "teams")} == {
        "completeNow"
    }
    assert status(evaluate(records(), ALL_SET, {}, {}), "respond") == "completed"


def test_ready_for_monitoring_needs_every_required_action_and_both_targets() -> None:
    ready = records()
    states = evaluate(ready, ALL_SET, {}, {})
    assert ready_for_monitoring(states, *figures(ready))
    # Recommended actions (the Respond permission, ASR rules) don't hold it back.
    partial = ServiceChoices(True, True, True, False, True)
    assert ready_for_monitoring(evaluate(ready, partial, {}, {}), *figures(ready))
    short = records(covered=9)
    assert not ready_for_monitoring(evaluate(short, ALL_SET, {}, {}), *figures(short))
    stale = records(stale=("devices",))
    prev = {s.check.id: s.status for s in states}
    assert not ready_for_monitoring(evaluate(stale, ALL_SET, {}, prev), *figures(stale))
