"""The setup guide's cards, one pure function per step, using the product's own labels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from cards import verbs
from cards.common import (
    THREAD_REPLIES,
    buttons,
    card,
    execute,
    facts,
    header,
    notice,
    para,
    styled_box,
)
from cards.elements import (
    Action,
    AdaptiveCard,
    CardElement,
    Choice,
    ChoiceSetInput,
    Column,
    ColumnSet,
    Container,
    ExecuteAction,
    TextInput,
    ToggleInput,
)
from cards.text import phone
from cards.views import (
    ContactsView,
    ExclusionsView,
    GroupTabView,
    Mode,
    Option,
    PermissionsView,
    ReviewView,
    Section,
    SettingsView,
    SubmittedView,
    TeamsView,
)

TOTAL_STEPS = 4
"""Permissions, contacts, Teams, review. Exclusions is optional, reached from the permissions
step's **Manage exclusions**, and counts as part of that step."""
INVESTIGATE_LABEL = "Investigate incidents and guide my responses"
RESPOND_LABEL = "Respond directly to active threats"
WITHOUT_RESPOND = (
    "If you leave **Respond directly to active threats** off, our experts won't take response "
    "actions for you: they won't isolate or release devices, quarantine files, restrict app "
    "execution, disable or re-enable users, force password resets, or delete malicious email. "
    "You'll get guidance for these actions and take them yourself."
)
EXCLUSIONS_WHERE = "Permissions > Manage exclusions (optional)"
TEAMS_WARNING = (
    "Defender Experts will have access to all messages posted on any channel in the created "
    "**Defender Experts team**. To stop this, go to **Apps** in Teams, then **Manage your apps** "
    "> **Defender Experts** > **Remove**. This removal action cannot be reversed."
)
TEAMS_ROLE_NOTE = (
    "To set up the Defender Experts Teams application, you must have either the **Global "
    "Administrator** or **Security Administrator** role assigned, and a Microsoft Teams license."
)


def _step(n: int, title: str, mode: Mode, where: str = "") -> CardElement:
    if mode == "edit":
        return header(f"Edit settings: {title}", "Settings > Defender Experts")
    step = f"Step {n} of {TOTAL_STEPS}" + (f" · {where}" if where else "")
    return header(title, f"{step} · Defender Experts settings setup")


def _nav(
    rev: int, next_title: str, next_verb: str, mode: Mode, *, back: bool = True
) -> list[Action]:
    actions: list[Action] = []
    if back:
        actions.append(execute("Back", verbs.SETUP_BACK, {"rev": rev}, inputs=False))
    actions.append(
        execute(
            "Next: Review" if mode == "edit" else next_title,
            next_verb,
            {"rev": rev},
            style="positive",
        )
    )
    return actions


def permissions_card(view: PermissionsView) -> AdaptiveCard:
    body: list[CardElement] = [
        _step(1, "Grant permissions to our experts", view.mode),
        *notice(view.notice),
        para(
            "By default, Defender Experts for XDR requires **Service provider access** that lets "
            "our experts sign into your tenant and deliver services based on assigned security "
            "roles. Choose the access level(s) you want to grant our experts."
        ),
        para(f"**{INVESTIGATE_LABEL}** (default)", spacing="Medium"),
        para("Access level: Security Reader · always granted", spacing="None"),
        para(
            "Lets our experts proactively monitor and investigate incidents and guide you "
            "through any necessary response actions.",
            is_subtle=True,
            spacing="None",
        ),
        ToggleInput(
            id="respond",
            title=f"{RESPOND_LABEL} (recommended)",
            value="true" if view.respond else "false",
            label="Access level: Security Operator",
        ),
        para(
            "Lets our experts contain and remediate active threats immediately while "
            "investigating, reducing the threat's impact.",
            is_subtle=True,
            spacing="None",
        ),
    ]
    if not view.respond:
        body += notice_block(WITHOUT_RESPOND)
    body.append(
        para(
            "Our experts only get individual access to specific areas for a limited period.",
            is_subtle=True,
            size="Small",
        )
    )
    actions: list[Action] = [
        execute("Manage exclusions", verbs.PERMISSIONS_EXCLUSIONS, {"rev": view.rev}),
        *_nav(view.rev, "Next", verbs.PERMISSIONS_NEXT, view.mode),
    ]
    return card(body, actions)


def notice_block(text: str) -> list[CardElement]:
    return [styled_box(text, "warning")]


def _group_tab(tab: GroupTabView, *, rev: int, kind: str) -> list[CardElement]:
    singular = "device group" if kind == "device" else "user group"
    title = "Device groups" if kind == "device" else "User groups"
    search_verb = (
        verbs.EXCLUSIONS_SEARCH_DEVICES if kind == "device" else verbs.EXCLUSIONS_SEARCH_USERS
    )
    add_verb = verbs.EXCLUSIONS_ADD_DEVICES if kind == "device" else verbs.EXCLUSIONS_ADD_USERS
    remove_verb = (
        verbs.EXCLUSIONS_REMOVE_DEVICE if kind == "device" else verbs.EXCLUSIONS_REMOVE_USER
    )
    hv_id = "hv_devices" if kind == "device" else "hv_users"
    hv_title = (
        "Exclude all high-value devices" if kind == "device" else "Exclude all high-value users"
    )
    items: list[CardElement] = [
        para(title, size="Medium", weight="Bolder", separator=True, spacing="Large"),
        _search_row(
            TextInput(
                id=f"{kind}_query",
                label=f"Search {singular}s",
                placeholder="Group name",
                value=tab.query or None,
                max_length=100,
            ),
            execute(f"Search {title.lower()}", search_verb, {"rev": rev}),
        ),
    ]
    if tab.results:
        items += [
            ChoiceSetInput(
                id=f"{kind}_pick",
                label=f"Results: choose {singular}s to exclude",
                is_multi_select=True,
                style="expanded",
                choices=[Choice(title=o.title, value=o.id) for o in tab.results],
            ),
            buttons(execute(f"+ Add {title.lower()}", add_verb, {"rev": rev})),
        ]
    items.append(para(f"Excluded {singular}s ({len(tab.excluded)})", weight="Bolder"))
    if not tab.excluded:
        items.append(para(f"No {singular}s are excluded.", is_subtle=True, spacing="None"))
    for g in tab.excluded:
        items.append(_removable(g, f"Remove {singular}", remove_verb, rev))
    items += [
        ToggleInput(id=hv_id, title=hv_title, value="true" if tab.high_value else "false"),
        para(
            f"This also excludes every {kind} tagged as high-value in the future. Excluded "
            f"high-value {kind}s aren't listed among the {title.lower()}.",
            is_subtle=True,
            size="Small",
            spacing="None",
        ),
    ]
    return items


def _search_row(box: TextInput, search: ExecuteAction) -> ColumnSet:
    """A search box with its Search button beside it."""
    return ColumnSet(
        columns=[
            Column(width="stretch", items=[box]),
            Column(width="auto", vertical_content_alignment="Bottom", items=[buttons(search)]),
        ]
    )


def _removable(o: Option, title: str, verb: str, rev: int) -> ColumnSet:
    text = o.title if not o.subtitle else f"{o.title} · {o.subtitle}"
    return ColumnSet(
        columns=[
            Column(width="stretch", vertical_content_alignment="Center", items=[para(text)]),
            Column(
                width="auto",
                items=[
                    buttons(execute(title, verb, {"rev": rev, "id": o.id}, inputs=False)),
                ],
            ),
        ]
    )


def exclusions_card(view: ExclusionsView) -> AdaptiveCard:
    body: list[CardElement] = [
        _step(1, "Exclude devices and users from remediation", view.mode, EXCLUSIONS_WHERE),
        *notice(view.notice),
        para(
            "Our experts won't take remediation actions on excluded devices and users; you get "
            "remediation guidance for them instead. Only existing groups are listed: create new "
            "device groups in the Defender for Endpoint settings and user groups in the "
            "Microsoft Entra admin center, then search again."
        ),
        *_group_tab(view.devices, rev=view.rev, kind="device"),
        *_group_tab(view.users, rev=view.rev, kind="user"),
        para(
            "**Next** confirms your exclusion list. **Skip** discards every exclusion added "
            "in this step.",
            is_subtle=True,
            size="Small",
            separator=True,
        ),
    ]
    actions = [
        execute("Back", verbs.SETUP_BACK, {"rev": view.rev}, inputs=False),
        execute("Skip", verbs.EXCLUSIONS_SKIP, {"rev": view.rev}, inputs=False),
        execute(
            "Next: Review" if view.mode == "edit" else "Next",
            verbs.EXCLUSIONS_NEXT,
            {"rev": view.rev},
            style="positive",
        ),
    ]
    return card(body, actions)


def contacts_card(view: ContactsView) -> AdaptiveCard:
    body: list[CardElement] = [
        _step(2, "Tell us who to contact for important matters", view.mode),
        *notice(view.notice),
        para(
            "**Incident notification** contacts are notified for managed response actions and "
            "anything that needs an immediate response, so they should always be available. "
            "**Service review** contacts join ongoing security briefings with our service "
            "delivery team. Each contact you add gets an email."
        ),
        _search_row(
            TextInput(
                id="contact_query",
                label="Contact person or team",
                placeholder="Name or email",
                value=view.query or None,
                max_length=100,
            ),
            execute("Search", verbs.CONTACTS_SEARCH, {"rev": view.rev}),
        ),
    ]
    if view.results:
        body.append(
            ChoiceSetInput(
                id="contact_pick",
                label="Choose a person or team",
                style="compact",
                placeholder="Choose from the results",
                value=view.results[0].id if len(view.results) == 1 else None,
                choices=[
                    Choice(title=f"{o.title} ({o.subtitle})" if o.subtitle else o.title, value=o.id)
                    for o in view.results
                ],
            )
        )
    body += [
        TextInput(
            id="contact_phone",
            label="Phone number (optional)",
            style="Tel",
            placeholder="+1 425 555 0100",
            value=view.phone or None,
            max_length=32,
        ),
        ChoiceSetInput(
            id="contact_for",
            label="Contact for",
            style="compact",
            placeholder="Choose",
            value=view.purpose or None,
            choices=[
                Choice(title="Incident notification", value="incidentNotification"),
                Choice(title="Service review", value="serviceReview"),
            ],
        ),
        buttons(execute("Add", verbs.CONTACTS_ADD, {"rev": view.rev})),
        para(f"Contacts ({len(view.contacts)})", weight="Bolder", separator=True),
    ]
    if not view.contacts:
        body.append(para("No contacts yet.", is_subtle=True, spacing="None"))
    for c in view.contacts:
        detail = " · ".join(x for x in (c.purpose_label, c.mail, phone(c.phone)) if x)
        body.append(
            ColumnSet(
                columns=[
                    Column(
                        width="stretch",
                        items=[
                            para(c.name, weight="Bolder"),
                            para(detail, is_subtle=True, spacing="None"),
                        ],
                    ),
                    Column(
                        width="auto",
                        items=[
                            buttons(
                                execute(
                                    "Remove",
                                    verbs.CONTACTS_REMOVE,
                                    {"rev": view.rev, "id": c.id, "purpose": c.purpose},
                                    inputs=False,
                                )
                            )
                        ],
                    ),
                ]
            )
        )
    actions = _nav(view.rev, "Next", verbs.CONTACTS_NEXT, view.mode)
    return card(body, actions)


def teams_card(view: TeamsView) -> AdaptiveCard:
    body: list[CardElement] = [
        _step(
            3, "Receive managed response notifications and updates in Microsoft Teams", view.mode
        ),
        *notice(view.notice),
        para(
            "Apart from email, you can use Microsoft Teams to receive updates about managed "
            "responses. When this setting is on, a new team named **Defender Experts team** is "
            "created, and managed response notifications about ongoing incidents are posted in "
            "its **Managed response** channel."
        ),
        para(THREAD_REPLIES, is_subtle=True, spacing="Small"),
        ToggleInput(
            id="teams_enabled",
            title="Communicate on Teams",
            value="true" if view.enabled else "false",
        ),
        *notice_block(TEAMS_WARNING),
        para(TEAMS_ROLE_NOTE, is_subtle=True, size="Small"),
    ]
    return card(body, _nav(view.rev, "Next", verbs.TEAMS_NEXT, view.mode))


def _section(s: Section, edit: ExecuteAction) -> list[CardElement]:
    """A titled block of facts with its Edit action, for the review and the settings cards.
    A changed section sits in an emphasis box, says "Changed" in its title and marks each
    changed fact."""
    heading = f"{s.title} · Changed" if s.changed else s.title
    title = Column(
        width="stretch", vertical_content_alignment="Center", items=[para(heading, weight="Bolder")]
    )
    row = ColumnSet(
        separator=True,
        spacing="Medium",
        columns=[title, Column(width="auto", items=[buttons(edit)])],
    )
    shown = facts([(f"{k} (changed)" if k in s.changed else k, value) for k, value in s.facts])
    if not s.changed:
        return [row, shown]
    return [Container(style="emphasis", separator=True, spacing="Medium", items=[row, shown])]


def mark_changes(now: Sequence[Section], saved: Sequence[Section]) -> tuple[Section, ...]:
    """``now`` with each fact that differs from ``saved`` named in its section's ``changed``,
    and what was removed from a list (a contact, say) added as a "Removed: …" fact."""
    before = {s.key: s for s in saved}
    marked = []
    for s in now:
        old = list(before[s.key].facts) if s.key in before else []
        titles_before = [t for t, _ in old]
        changed: list[str] = []
        for pair in s.facts:
            if pair in old:
                old.remove(pair)
            else:
                changed.append(pair[0])
        titles_now = [t for t, _ in s.facts]
        removed = [
            (f"Removed: {t}", v)
            for t, v in old
            if t not in titles_now or titles_before.count(t) > 1 or titles_now.count(t) > 1
        ]
        changed += [t for t, _ in removed]
        marked.append(replace(s, facts=(*s.facts, *removed), changed=tuple(changed)))
    return tuple(marked)


def review_card(view: ReviewView) -> AdaptiveCard:
    title = "Review your changes" if view.mode == "edit" else "Review your settings"
    body: list[CardElement] = [
        header(
            title,
            f"Step {TOTAL_STEPS} of {TOTAL_STEPS} · Defender Experts settings setup"
            if view.mode == "setup"
            else "Settings > Defender Experts",
        ),
        *notice(view.notice),
    ]
    if view.mode == "edit":
        changed = [s.title for s in view.sections if s.changed]
        body.append(
            para(
                f"You changed: {', '.join(changed)}. Submit saves these changes."
                if changed
                else "Nothing is changed yet. Select Edit on a section to change it.",
                weight="Bolder" if changed else None,
            )
        )
    for s in view.sections:
        edit = execute("Edit", verbs.SETUP_GOTO, {"rev": view.rev, "step": s.key}, inputs=False)
        body += _section(s, edit)
    actions = [
        execute("Back", verbs.SETUP_BACK, {"rev": view.rev}, inputs=False),
        execute("Submit", verbs.SUBMIT, {"rev": view.rev}, inputs=False, style="positive"),
    ]
    return card(body, actions)


def submitted_card(view: SubmittedView) -> AdaptiveCard:
    teams = (
        "Teams communication was requested: the **Defender Experts team** and its "
        "**Managed response** channel will be set up."
        if view.teams_requested
        else "Teams communication is off: you'll get notifications by email."
    )
    body: list[CardElement] = [
        header("Setup complete", f"Settings version {view.version}"),
        *notice_good(f"{view.submitted_by} submitted the Defender Experts settings."),
        para(teams),
        para(
            "Next, view the readiness assessment to complete the actions needed to optimize "
            "your security posture before the service starts."
        ),
    ]
    actions = [
        execute(
            "View readiness assessment",
            verbs.READINESS_VIEW,
            verbs.ANSWER_WITH_NEW_CARD,
            inputs=False,
            style="positive",
        ),
        execute("View settings", verbs.SETTINGS_SHOW, {}, inputs=False),
    ]
    return card(body, actions)


def notice_good(text: str) -> list[CardElement]:
    return [styled_box(text, "good", strong=True)]


def settings_card(view: SettingsView) -> AdaptiveCard:
    subtitle = (
        f"Version {view.version} · last changed by {view.updated_by} on {view.updated_at}"
        if view.version
        else "Not set up yet"
    )
    body: list[CardElement] = [header("Defender Experts settings", subtitle), *notice(view.notice)]
    for s in view.sections:
        body += _section(s, execute("Edit", verbs.SETTINGS_EDIT, {"section": s.key}, inputs=False))
    actions = (
        []
        if view.version
        else [execute("Get started", verbs.SETUP_START, {}, inputs=False, style="positive")]
    )
    return card(body, actions)
