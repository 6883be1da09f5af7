"""The readiness service: assessing, showing, marking, refreshing, telling the admins, the phase."""

from __future__ import annotations

from typing import Any

import pytest

from bot.actions import CardAction
from bot.errors import ValidationError
from bot.readiness.ports import DeviceCoverage, ServiceChoices, SignalError
from bot.readiness.service import readiness_key
from bot.tenant.demo import DemoTenantDirectory
from cards import to_json
from cards.elements import AdaptiveCard
from cards.readiness import MARK, REFRESH, VIEW
from tests.readiness.support import World, world
from tests.support import ADELE, ALEX, actions, routed, texts


async def act(
    w: World, verb: str, data: dict[str, Any] | None = None, actor: Any = ALEX
) -> AdaptiveCard:
    """The action through the router the composition root builds: its guard, then the service."""
    router = routed(DemoTenantDirectory.load(), w.service.routes())
    return await router.card_action(CardAction(actor, verb, data or {}, "conv", "msg"))


async def show(w: World, actor: Any = ALEX) -> dict[str, Any]:
    return to_json(await act(w, VIEW, actor=actor))


def mark_data(card: dict[str, Any], check: str) -> dict[str, Any]:
    found = [a for a in actions(card) if a.get("verb") == MARK and a["data"]["check"] == check]
    assert found, f"no Mark in progress for {check}"
    return dict(found[0]["data"])


async def test_the_first_view_assesses_and_shows_figures_and_actions() -> None:
    w = world()
    card = await show(w)
    text = texts(card)
    assert "Devices: 45 protected of a target of 50" in text
    assert "5 still to protect" in text and "Onboard more devices" in text
    assert "It can take up to 24 hours to get the latest status" in text
    assert "Last assessed" in text and "Service phase" in text
    assert "⚠️ Complete now" in text
    assert w.signals.reads == 4


async def test_a_member_sees_the_assessment_but_no_mark_buttons() -> None:
    w = world()
    assert not [a for a in actions(await show(w, ADELE)) if a.get("verb") == MARK]
    assert [a for a in actions(await show(w, ALEX)) if a.get("verb") == MARK]


async def test_an_admin_marks_an_action_in_progress_with_who_and_when() -> None:
    w = world()
    card = await show(w)
    card = to_json(await act(w, MARK, mark_data(card, "devices")))
    text = texts(card)
    assert "Marked “Onboard your devices to Defender for Endpoint” in progress" in text
    assert "Marked by Alex Wilber" in text
    stored = (await w.service.current()).marks["devices"]
    assert (stored.user_id, stored.name) == (ALEX.user_id, "Alex Wilber")
    assert stored.at == "2026-11-30T00:53:20Z"
    # Completed once the signal confirms it.
    w.signals.devices_ = DeviceCoverage(50, 0, 0)
    w.clock.now += 3600
    assessment, changes = await w.service.assess("schedule")
    assert assessment.statuses["devices"] == "completed"
    assert any("In progress → Completed" in c for c in changes)


async def test_marking_is_refused_for_non_admins_forged_and_stale_cards() -> None:
    w = world()
    card = await show(w)
    data = mark_data(card, "devices")
    before = await w.store.read(readiness_key(w.service.tenant_id))
    refused = texts(to_json(await act(w, MARK, data, ADELE)))
    assert "Only a Global Administrator or Security Administrator" in refused
    forged = texts(to_json(await act(w, MARK, {"check": "nope"})))
    assert "malformed" in forged
    stale = {**data, "rev": data["rev"] - 1}
    out = texts(to_json(await act(w, MARK, stale)))
    assert "out of date" in out
    unknown = texts(to_json(await act(w, "readiness.explode")))
    assert "isn't recognized" in unknown
    assert await w.store.read(readiness_key(w.service.tenant_id)) == before


async def test_a_user_of_another_tenant_sees_nothing() -> None:
    w = world()
    outsider = ALEX.__class__(ALEX.user_id, "Eve", "other-tenant")
    card = to_json(await act(w, VIEW, actor=outsider))
    assert "Only members of your organization" in texts(card)
    assert w.signals.reads == 0


async def test_refresh_is_limited_to_once_per_five_minutes_per_tenant() -> None:
    w = world()
    await show(w)
    reads = w.signals.reads
    first = texts(to_json(await act(w, REFRESH)))
    assert "Refreshed: nothing changed" in first
    assert w.signals.reads == reads + 4
    w.clock.now += 299
    again = texts(to_json(await act(w, REFRESH, actor=ADELE)))
    assert "refreshed less than 5 minutes ago" in again and "1 minute" in again
    assert w.signals.reads == reads + 4
    w.clock.now += 1
    await act(w, REFRESH)
    assert w.signals.reads == reads + 8


async def test_a_change_sends_the_admins_one_card_that_says_what_changed() -> None:
    w = world()
    await w.service.assess("first")
    assert w.inbox.cards == []  # the first assessment isn't a change
    await w.service.assess("again")
    assert w.inbox.cards == []  # nothing changed
    w.signals.devices_ = DeviceCoverage(47, 0, 0)
    w.choices.value = ServiceChoices(incident_contact=True)
    await w.service.assess("schedule")
    assert len(w.inbox.cards) == 1
    text = texts(w.inbox.cards[0])
    assert "What changed" in text
    assert "Devices: 45 of 50 protected of target, now 47 of 50" in text
    assert "Add an incident notification contact: Complete now → Completed" in text


async def test_a_forbidden_signal_keeps_the_last_value_marked_stale_with_the_permission() -> None:
    w = world()
    await w.service.assess("first")
    w.signals.devices_ = DeviceCoverage(50, 0, 0)
    w.signals.failures["devices"] = SignalError(
        "403", reason="forbidden", permission="Machine.Read.All", service="Defender"
    )
    a, _ = await w.service.assess("schedule")
    assert a.signals["devices"].stale
    assert a.signals["devices"].value == DeviceCoverage(45, 2, 3).to_json()
    assert a.statuses["devices"] == "completeNow"
    text = texts(await show(w))
    assert "Stale: Defender refused the read: the app needs Machine.Read.All" in text
    # Throttling and outages say so too, and recover on the next good read.
    w.signals.failures["devices"] = SignalError("429", reason="throttled", service="Defender")
    a, _ = await w.service.assess("schedule")
    assert "throttling" in a.signals["devices"].reason
    del w.signals.failures["devices"]
    a, _ = await w.service.assess("schedule")
    assert not a.signals["devices"].stale and a.statuses["devices"] == "completed"


async def test_ready_for_monitoring_publishes_one_event() -> None:
    w = world(devices_=DeviceCoverage(50, 0, 0))
    w.signals.identities_ = w.signals.identities_.__class__(40, 2, 0)
    await w.service.assess("first")
    assert w.events.published == []
    w.choices.value = ServiceChoices(True, True, True, False, True)
    await w.service.on_settings(w.service.tenant_id, None, None, None)
    await w.service.assess("schedule")
    assert [e["type"] for e in w.events.published] == ["readiness.readyForMonitoring"]
    assert w.signals.reads == 8  # the settings change re-evaluated without reading


async def test_the_schedule_reassesses_every_interval() -> None:
    w = world()
    assert await w.service.run_due() == 24 * 3600  # nothing before the first assessment
    assert w.signals.reads == 0
    await w.service.assess("first")
    w.clock.now += 3600
    assert await w.service.run_due() == 23 * 3600
    w.clock.now += 23 * 3600
    assert await w.service.run_due() == 24 * 3600
    assert w.signals.reads == 8


async def test_the_phase_moves_one_step_at_a_time_and_is_audited() -> None:
    w = world()
    a = await w.service.set_phase("readiness", by="Sam SDM", reason="kick-off done")
    assert a.phase == "readiness"
    assert a.phase_history[-1]["by"] == "Sam SDM"
    with pytest.raises(ValidationError, match="can move to onboarding or monitoring"):
        await w.service.set_phase("active", by="Sam SDM")
    with pytest.raises(ValidationError):
        await w.service.set_phase("done", by="Sam SDM")
    with pytest.raises(ValidationError):
        await w.service.set_phase("monitoring", by=" ")
    assert (await w.service.current()).phase == "readiness"
    assert "Readiness" in texts(await show(w))
