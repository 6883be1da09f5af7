"""The setup guide, step by step, through the service with the demo tenant."""

from __future__ import annotations

from typing import Any

import pytest

from bot.errors import DependencyError
from bot.onboarding import OnboardingService
from bot.onboarding.model import Purpose
from bot.storage.memory import MemoryStore
from bot.tenant.demo import DemoTenantDirectory
from cards import setup, to_json, verbs
from tests.support import (
    ADELE,
    ALEX,
    DOMAIN_CONTROLLERS,
    EXECUTIVES,
    FINANCE_DEVICES,
    MEGAN,
    SECOPS_GROUP,
    TENANT,
    Flow,
    action,
    actions,
    inputs,
)

DRAFT_KEY = f"tenants/{TENANT}/draft"
SETTINGS_KEY = f"tenants/{TENANT}/settings"


async def snapshot(store: MemoryStore) -> dict[str, Any]:
    return {k: (await store.read(k)).value for k in await store.list_keys("")}  # type: ignore[union-attr]


async def complete_guide(flow: Flow) -> dict[str, Any]:
    await flow.start()
    await flow.press("Manage exclusions", respond="true")
    await flow.press("Search device groups", device_query="fin")
    await flow.press("+ Add device groups", device_pick=FINANCE_DEVICES)
    await flow.press("Next", hv_users="true")
    await flow.press("Search", contact_query="secops")
    await flow.press(
        "Add",
        contact_pick=SECOPS_GROUP,
        contact_for="incidentNotification",
        contact_phone="+1 425 555 0100",
    )
    await flow.press("Next")
    await flow.press("Next", teams_enabled="true")
    return await flow.press("Submit")


async def test_permissions_card_defaults_and_warning(service: OnboardingService) -> None:
    flow = Flow(service, ALEX)
    await flow.start()
    fields = inputs(flow.card)
    assert "investigate" not in fields  # the default access is always granted
    assert fields["respond"]["value"] == "false"
    text = flow.text()
    assert "Investigate incidents and guide my responses" in text
    assert "Respond directly to active threats (recommended)" in text
    assert "If you leave **Respond directly to active threats** off" in text and "isolate" in text
    assert "Security Reader · always granted" in text
    assert "Step 1 of 4" in text


async def test_respond_on_hides_the_warning(service: OnboardingService) -> None:
    flow = Flow(service, ALEX)
    await flow.start()
    await flow.press("Manage exclusions", respond="true")
    await flow.press("Back")
    assert inputs(flow.card)["respond"]["value"] == "true"
    assert "won't take response actions" not in flow.text()


async def test_full_guide_commits_version_one_with_audit(
    service: OnboardingService, store: MemoryStore
) -> None:
    card = await complete_guide(Flow(service, ALEX))
    assert "Setup complete" in Flow(service, ALEX, card).text()
    assert action(card, "View readiness assessment")["verb"] == verbs.READINESS_VIEW
    record = await service.current(TENANT)
    s = record.settings
    assert record.version == 1
    assert (s.investigate, s.respond) == (True, True)
    assert [g.name for g in s.exclusions.device_groups] == ["Finance workstations"]
    assert s.exclusions.high_value_users and not s.exclusions.high_value_devices
    assert [(c.name, c.purpose, c.phone) for c in s.contacts] == [
        (
            "Security Operations",
            Purpose.INCIDENT,
            "+14254550100".replace("4254550100", "4255550100"),
        )
    ]
    assert s.communicate_on_teams
    assert record.teams_requested_at
    (entry,) = record.audit
    assert entry.by.name == "Alex Wilber" and entry.version == 1
    changed = {c.field for c in entry.changes}
    assert {"permissions.respond", "exclusions.deviceGroups", "teams.communicateOnTeams"} <= changed
    assert await store.read(DRAFT_KEY) is None


async def test_skip_discards_only_this_steps_exclusions(service: OnboardingService) -> None:
    flow = Flow(service, ALEX)
    await flow.start()
    await flow.press("Manage exclusions")
    await flow.press("Search device groups", device_query="")
    await flow.press("+ Add device groups", device_pick=FINANCE_DEVICES)
    await flow.press("Next")  # confirmed: Finance workstations
    await flow.press("Back")  # contacts -> exclusions
    assert "Finance workstations" in flow.text()
    await flow.press("Search device groups", device_query="domain")
    await flow.press("+ Add device groups", device_pick=DOMAIN_CONTROLLERS, hv_devices="true")
    assert "Domain controllers" in flow.text()
    await flow.press("Skip")
    assert "discarded" in flow.text()
    await flow.press("Back")
    text = flow.text()
    assert "Finance workstations" in text and "Domain controllers" not in text
    assert inputs(flow.card)["hv_devices"]["value"] == "false"


async def test_user_groups_add_and_remove(service: OnboardingService) -> None:
    flow = Flow(service, ALEX)
    await flow.start()
    await flow.press("Manage exclusions")
    await flow.press("Search user groups", user_query="exec")
    assert [c["title"] for c in inputs(flow.card)["user_pick"]["choices"]] == ["Executives"]
    await flow.press("+ Add user groups", user_pick=EXECUTIVES)
    assert "Excluded user groups (1)" in flow.text()
    await flow.press("Remove user group")
    assert "Excluded user groups (0)" in flow.text()


async def test_back_works_on_every_step(service: OnboardingService) -> None:
    flow = Flow(service, ALEX)
    await flow.start()
    await flow.press("Manage exclusions")
    await flow.press("Next")
    await flow.press("Add", contact_pick=SECOPS_GROUP, contact_for="incidentNotification")
    await flow.press("Next")
    await flow.press("Next")
    titles = []
    for _ in range(4):
        await flow.press("Back")
        titles.append(flow.card["body"][0]["items"][1]["text"])
    assert titles == [
        "Receive managed response notifications and updates in Microsoft Teams",
        "Tell us who to contact for important matters",
        "Exclude devices and users from remediation",
        "Grant permissions to our experts",
    ]


async def test_review_edit_jumps_to_the_section(service: OnboardingService) -> None:
    flow = Flow(service, ALEX)
    await flow.start()
    await flow.press("Next")
    await flow.press("Add", contact_pick=SECOPS_GROUP, contact_for="serviceReview")
    assert "Added Security Operations as a contact for Service review" in flow.text()
    await flow.press("Add", contact_pick=SECOPS_GROUP, contact_for="incidentNotification")
    await flow.press("Next")
    await flow.press("Next")
    edit = [a for a in flow.card["body"] if a.get("type") == "ColumnSet"]
    assert len(edit) == 4
    await flow.raw(
        verbs.SETUP_GOTO, {"rev": action(flow.card, "Submit")["data"]["rev"], "step": "teams"}
    )
    assert "Communicate on Teams" in flow.text()


async def test_contacts_refusals_leave_state_unchanged(
    service: OnboardingService, store: MemoryStore
) -> None:
    flow = Flow(service, ALEX)
    await flow.start()
    await flow.press("Next")
    await flow.press("Add", contact_pick=SECOPS_GROUP, contact_for="incidentNotification")
    before = await snapshot(store)
    await flow.press("Add", contact_pick=SECOPS_GROUP)
    assert "Choose what this contact is for" in flow.text()
    await flow.press("Add", contact_pick=SECOPS_GROUP, contact_for="incidentNotification")
    assert "already a contact for Incident notification" in flow.text()
    await flow.press(
        "Add",
        contact_pick=SECOPS_GROUP,
        contact_for="incidentNotification",
        contact_phone="call me maybe",
    )
    assert "international format" in flow.text()
    await flow.press("Add", contact_pick="not-a-real-id", contact_for="serviceReview")
    assert "doesn't exist in your directory" in flow.text()
    await flow.press("Add", contact_for="serviceReview")
    assert "Choose a person or team first" in flow.text()
    assert await snapshot(store) == before


async def test_contacts_next_needs_an_incident_contact(service: OnboardingService) -> None:
    flow = Flow(service, ALEX)
    await flow.start()
    await flow.press("Next")
    await flow.press("Next")
    assert "at least one Incident notification contact" in flow.text()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"device_pick": "999"}, "doesn't exist in your tenant"),
        ({"device_pick": "101,../../etc"}, "selection isn't valid"),
        ({"device_pick": ""}, "Choose at least one device group"),
        ({"device_pick": "101", "hv_devices": "maybe"}, "must be on or off"),
        ({"device_pick": "101", "device_query": "x" * 101}, None),
    ],
)
async def test_exclusion_refusals(
    service: OnboardingService, store: MemoryStore, values: dict[str, str], message: str | None
) -> None:
    flow = Flow(service, ALEX)
    await flow.start()
    await flow.press("Manage exclusions")
    await flow.press("Search device groups", device_query="")
    before = await snapshot(store)
    await flow.press("+ Add device groups", **values)
    if message:
        assert message in flow.text()
        assert await snapshot(store) == before


@pytest.mark.parametrize(
    "query",
    ["x" * 101, "fin\x00ance", "fin\u202eance", "a\nb"],
)
async def test_search_refuses_oversized_and_control_characters(
    service: OnboardingService, store: MemoryStore, query: str
) -> None:
    flow = Flow(service, ALEX)
    await flow.start()
    await flow.press("Manage exclusions")
    before = await snapshot(store)
    await flow.press("Search device groups", device_query=query)
    assert "Device group search" in flow.text()
    assert await snapshot(store) == before


async def test_no_permission_is_refused(service: OnboardingService, store: MemoryStore) -> None:
    flow = Flow(service, ALEX)
    await flow.start()
    before = await snapshot(store)
    await flow.press("Next", investigate="false", respond="false")
    assert "is always granted" in flow.text() and "Nothing was changed" in flow.text()
    assert await snapshot(store) == before


async def test_non_admin_is_refused_on_every_entry(
    service: OnboardingService, store: MemoryStore
) -> None:
    admin = Flow(service, ALEX)
    await admin.start()
    rev = action(admin.card, "Next")["data"]["rev"]
    before = await snapshot(store)
    flow = Flow(service, ADELE)
    for card in (
        await flow.start(),
        await flow.settings(),
        await flow.raw(verbs.PERMISSIONS_NEXT, {"rev": rev, "respond": "true"}),
        await flow.raw(verbs.SUBMIT, {"rev": rev}),
    ):
        text = Flow(service, ADELE, card).text()
        assert "Global Administrator" in text and "Security Administrator" in text
        assert "Nothing was changed" in text
    assert await snapshot(store) == before


async def test_other_tenant_is_refused(service: OnboardingService, store: MemoryStore) -> None:
    intruder = type(ALEX)(ALEX.user_id, ALEX.name, "00000000-0000-0000-0000-000000000001")
    flow = Flow(service, intruder)
    await flow.start()
    assert "Global Administrator" in flow.text()
    assert await store.list_keys("") == []


@pytest.mark.parametrize("verb", ["setup.nope", "", "x" * 5000, "setup.start\x00"])
async def test_unknown_or_forged_verbs(
    service: OnboardingService, store: MemoryStore, verb: str
) -> None:
    flow = Flow(service, ALEX)
    await flow.start()
    before = await snapshot(store)
    await flow.raw(verb, {"rev": 1})
    assert "isn't recognized" in flow.text()
    assert await snapshot(store) == before


async def test_action_from_an_older_card_is_not_applied(
    service: OnboardingService, store: MemoryStore
) -> None:
    flow = Flow(service, ALEX)
    first = await flow.start()
    await flow.press("Manage exclusions", respond="true")
    before = await snapshot(store)
    flow.card = first  # the user clicks on the old card again
    await flow.press("Next", respond="false")
    assert "out of date" in flow.text()
    assert "Exclude devices and users" in flow.text()  # shown the current step
    assert await snapshot(store) == before


@pytest.mark.parametrize("rev", [None, "abc", True, -1, 10**20, {"x": 1}])
async def test_missing_or_malformed_revision(
    service: OnboardingService, store: MemoryStore, rev: Any
) -> None:
    flow = Flow(service, ALEX)
    await flow.start()
    before = await snapshot(store)
    await flow.raw(verbs.PERMISSIONS_NEXT, {"rev": rev, "respond": "true"})
    assert "out of date" in flow.text()
    assert await snapshot(store) == before


async def test_action_for_another_step_is_refused(
    service: OnboardingService, store: MemoryStore
) -> None:
    flow = Flow(service, ALEX)
    await flow.start()
    before = await snapshot(store)
    await flow.raw(
        verbs.CONTACTS_ADD,
        {"rev": 1, "contact_pick": SECOPS_GROUP, "contact_for": "incidentNotification"},
    )
    assert "belongs to another step" in flow.text()
    assert await snapshot(store) == before


async def test_two_admins_resume_the_same_draft(service: OnboardingService) -> None:
    alex = Flow(service, ALEX)
    await alex.start()
    await alex.press("Manage exclusions", respond="true")
    megan = Flow(service, MEGAN)
    await megan.start()
    assert "Resuming the setup where Alex Wilber left off" in megan.text()
    assert "Exclude devices and users" in megan.text()


async def test_concurrent_editors_never_lose_an_update(
    service: OnboardingService, store: MemoryStore
) -> None:
    alex = Flow(service, ALEX)
    await alex.start()
    await alex.press("Manage exclusions")
    megan = Flow(service, MEGAN, alex.card)  # both look at the same card
    await alex.press("Search device groups", device_query="fin")
    await alex.press("+ Add device groups", device_pick=FINANCE_DEVICES)
    await megan.press("Skip")  # stale: based on the card before Alex's changes
    assert "out of date: Alex Wilber changed the setup" in megan.text()
    assert "Finance workstations" in megan.text()
    draft = (await store.read(DRAFT_KEY)).value  # type: ignore[union-attr]
    assert draft["pendingExclusions"]["deviceGroups"][0]["name"] == "Finance workstations"


async def test_shared_draft_submitted_by_another_admin_keeps_both_changes(
    service: OnboardingService,
) -> None:
    await complete_guide(Flow(service, ALEX))
    alex, megan = Flow(service, ALEX), Flow(service, MEGAN)
    await alex.settings()
    await alex.press("Edit")  # permissions section
    await alex.press("Next: Review", respond="false")
    review = alex.card
    # Megan edits and saves the Teams section meanwhile, from her own settings card
    await megan.settings()
    edits = [a for a in megan.card["body"] if a.get("type") == "ColumnSet"]
    teams_edit = edits[3]["columns"][1]["items"][0]["actions"][0]
    await megan.raw(teams_edit["verb"], teams_edit["data"])
    assert "Continuing the changes Alex Wilber started" in megan.text()
    await megan.press("Next: Review", teams_enabled="false")
    await megan.press("Submit")
    assert "version 2" in megan.text()
    alex.card = review
    await alex.press("Submit")
    assert "already submitted, so nothing was changed" in alex.text()
    record = await service.current(TENANT)
    assert record.version == 2
    assert not record.settings.respond and not record.settings.communicate_on_teams
    assert {c.field for c in record.audit[-1].changes} == {
        "permissions.respond",
        "teams.communicateOnTeams",
    }


async def test_edit_saves_a_new_version_with_only_the_change(service: OnboardingService) -> None:
    await complete_guide(Flow(service, ALEX))
    flow = Flow(service, MEGAN)
    await flow.settings()
    await flow.press("Edit")
    await flow.press("Next: Review", respond="false")
    await flow.press("Submit")
    assert "Saved. Settings are now at version 2" in flow.text()
    record = await service.current(TENANT)
    assert record.version == 2 and not record.settings.respond
    assert [c.field for c in record.audit[-1].changes] == ["permissions.respond"]
    assert record.audit[-1].by.name == "Megan Bowen"


async def test_the_review_of_an_edit_marks_what_changed(service: OnboardingService) -> None:
    await complete_guide(Flow(service, ALEX))
    flow = Flow(service, ALEX)
    await flow.settings()
    await flow.press("Edit")
    await flow.press("Next: Review", respond="false")
    text = flow.text()
    assert "You changed: Permissions." in text
    assert f"{setup.RESPOND_LABEL} (changed)" in text
    assert "Exclusions · Changed" not in text and "Teams · Changed" not in text


async def test_back_from_contacts_lands_only_on_a_step_seen(service: OnboardingService) -> None:
    flow = Flow(service, ALEX)
    await flow.start()
    await flow.press("Next")
    assert "Step 2 of 4" in flow.text()
    await flow.press("Back")
    assert flow.card["body"][0]["items"][1]["text"] == "Grant permissions to our experts"
    await flow.press("Manage exclusions")
    await flow.press("Next")
    await flow.press("Back")
    assert flow.card["body"][0]["items"][1]["text"] == "Exclude devices and users from remediation"


async def test_help_after_setup_offers_the_settings(service: OnboardingService) -> None:
    before = [a["title"] for a in actions(to_json(await service.help_for(ALEX)))]
    assert "Get started" in before and "View settings" not in before
    await complete_guide(Flow(service, ALEX))
    after = [a["title"] for a in actions(to_json(await service.help_for(ALEX)))]
    assert "View settings" in after and "Get started" not in after


async def test_submit_without_changes_saves_nothing(service: OnboardingService) -> None:
    await complete_guide(Flow(service, ALEX))
    flow = Flow(service, ALEX)
    await flow.settings()
    await flow.press("Edit")
    await flow.press("Next: Review")
    await flow.press("Submit")
    assert "No changes to save" in flow.text()
    assert (await service.current(TENANT)).version == 1


async def test_stale_base_version_is_rebased_and_confirmed(
    service: OnboardingService, store: MemoryStore
) -> None:
    await complete_guide(Flow(service, ALEX))
    alex = Flow(service, ALEX)
    await alex.settings()
    await alex.press("Edit")
    await alex.press("Next: Review", respond="false")
    # a commit lands from elsewhere (another bot instance) without touching the draft
    item = await store.read(SETTINGS_KEY)
    assert item is not None
    bumped = dict(item.value, version=5)
    await store.write(SETTINGS_KEY, bumped, etag=item.etag)
    await alex.press("Submit")
    assert "submit again to replace them" in alex.text()
    assert (await service.current(TENANT)).version == 5
    await alex.press("Submit")
    record = await service.current(TENANT)
    assert record.version == 6 and not record.settings.respond


async def test_settings_card_shows_every_choice(service: OnboardingService) -> None:
    await complete_guide(Flow(service, ALEX))
    flow = Flow(service, ALEX)
    await flow.settings()
    text = flow.text()
    for expected in (
        "Granted (Security Operator)",
        "Finance workstations",
        "Security Operations",
        "+1 425 555 0100",
        "Version 1",
        "last changed by Alex Wilber on 27 Nov 2026, 09:00 UTC",
    ):
        assert expected in text
    edits = [a for a in actions(flow.card) if a["verb"] == verbs.SETTINGS_EDIT]
    assert [a["data"]["section"] for a in edits] == [
        "permissions",
        "exclusions",
        "contacts",
        "teams",
    ]


async def test_listeners_run_after_commit_and_failures_do_not_undo(
    service: OnboardingService,
) -> None:
    calls: list[int] = []

    async def ok(tenant_id: str, record: Any, previous: Any, actor: Any) -> None:
        calls.append(record.version)

    async def broken(tenant_id: str, record: Any, previous: Any, actor: Any) -> None:
        raise RuntimeError("mail server down")

    service.add_listener(broken)
    service.add_listener(ok)
    await complete_guide(Flow(service, ALEX))
    assert calls == [1]
    assert (await service.current(TENANT)).version == 1


async def test_a_single_search_result_is_preselected(service: OnboardingService) -> None:
    flow = Flow(service, ALEX)
    await flow.start()
    await flow.press("Next")
    await flow.press("Search", contact_query="secops")
    assert inputs(flow.card)["contact_pick"]["value"] == SECOPS_GROUP
    await flow.press("Search", contact_query="contoso.com")
    assert "value" not in inputs(flow.card)["contact_pick"]


async def test_back_from_the_first_step_leaves_the_guide_and_keeps_the_draft(
    service: OnboardingService, store: MemoryStore
) -> None:
    flow = Flow(service, ALEX)
    await flow.start()
    await flow.press("Manage exclusions", respond="true")
    await flow.press("Back")
    before = await snapshot(store)
    await flow.press("Back")
    assert "Welcome" in flow.text() and "Get started" in flow.text()
    assert await snapshot(store) == before
    await flow.press("Get started")
    assert "Resuming the setup" in flow.text()
    assert inputs(flow.card)["respond"]["value"] == "true"


class _Down(DependencyError):
    def advice(self) -> str:
        return "The Defender Experts app isn't allowed to read this: it needs Machine.Read.All."


async def test_a_directory_failure_is_explained_and_changes_nothing(
    service: OnboardingService,
    store: MemoryStore,
    directory: DemoTenantDirectory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    flow = Flow(service, ALEX)
    await flow.start()
    await flow.press("Manage exclusions")
    before = await snapshot(store)

    async def refused(query: str, limit: int) -> list[Any]:
        raise _Down("403 from Defender")

    monkeypatch.setattr(directory, "search_device_groups", refused)
    await flow.press("Search device groups", device_query="fin")
    assert "Machine.Read.All" in flow.text() and "Nothing was changed" in flow.text()
    assert "403 from Defender" not in flow.text()
    assert await snapshot(store) == before


class Killed(BaseException):
    """Stands for the process dying right after the commit."""


async def test_follow_up_work_lost_in_a_crash_is_redone_at_start(
    store: MemoryStore, directory: DemoTenantDirectory
) -> None:
    calls: list[tuple[int, int]] = []

    async def dies(tenant_id: str, record: Any, previous: Any, actor: Any) -> None:
        raise Killed

    async def records(tenant_id: str, record: Any, previous: Any, actor: Any) -> None:
        calls.append((record.version, len(previous.contacts)))
        assert actor.name == "Alex Wilber"

    crashed = OnboardingService(store, directory, listeners=[dies])
    with pytest.raises(Killed):
        await complete_guide(Flow(crashed, ALEX))
    assert (await crashed.current(TENANT)).version == 1  # committed before the crash

    restarted = OnboardingService(store, directory, listeners=[records])
    assert await restarted.resume() == 1
    assert calls == [(1, 0)]  # version 1, replacing settings with no contacts
    assert await restarted.resume() == 0
    assert calls == [(1, 0)]


async def test_a_failing_listener_is_retried_at_the_next_start(
    store: MemoryStore, directory: DemoTenantDirectory
) -> None:
    attempts: list[int] = []

    async def flaky(tenant_id: str, record: Any, previous: Any, actor: Any) -> None:
        attempts.append(record.version)
        if len(attempts) == 1:
            raise RuntimeError("mail server down")

    service = OnboardingService(store, directory, listeners=[flaky])
    await complete_guide(Flow(service, ALEX))
    assert await service.resume() == 1
    assert await service.resume() == 0
    assert attempts == [1, 1]
