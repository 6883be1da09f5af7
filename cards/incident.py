"""The incident card: one post per incident in the Managed response channel, updated in place.

Everything shown comes from the experts' notification or from the channel's members, so every
string is escaped before it reaches a TextBlock (Teams renders a Markdown subset there).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from microsoft_teams.cards.core import (
    Action,
    ActionSet,
    AdaptiveCard,
    CardElement,
    Column,
    ColumnSet,
    Container,
    OpenUrlAction,
    ShowCardAction,
    TextBlock,
)

from cards.common import CARD_VERSION, SERVICE_NAME, Color, Style, execute, facts, notice, para
from cards.incident_views import (
    ACKNOWLEDGE,
    ACTION_COMPLETE,
    ACTION_SKIP,
    CompletedRow,
    IncidentView,
    PendingRow,
)

MAX_LISTED = 10
MAX_SUMMARY = 1500
MAX_INSTRUCTIONS = 300
MAX_NAME = 80
MAX_ACTIONS_SHOWN = 10
MAX_PENDING_SHOWN = 8

SEVERITY_COLOR: dict[str, Color] = {
    "high": "Attention",
    "medium": "Warning",
    "low": "Accent",
    "informational": "Default",
}
SEVERITY_STYLE: dict[str, Style] = {
    "high": "attention",
    "medium": "warning",
    "low": "accent",
    "informational": "emphasis",
}
SEVERITY_MARK = {"high": "▲▲▲", "medium": "▲▲", "low": "▲", "informational": "●"}
COMPLETED_COLOR: dict[str, Color] = {
    "completed": "Good",
    "failed": "Attention",
    "inProgress": "Accent",
    "cancelled": "Default",
}

_MARKDOWN = re.compile(r"([\\*_\[\]])")
_LIST_MARKER = re.compile(r"^(?:([-+])|([0-9]+)\.)(?= )")


def md(text: str) -> str:
    """Escape untrusted text for a TextBlock: no links, emphasis or lists (Teams' subset)."""
    flat = _MARKDOWN.sub(r"\\\1", " ".join(text.split()))
    return _LIST_MARKER.sub(lambda m: f"\\{m[1]}" if m[1] else f"{m[2]}\\.", flat)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _listed(names: Sequence[str]) -> str:
    if not names:
        return "None reported"
    shown = ", ".join(md(clip(n, MAX_NAME)) for n in names[:MAX_LISTED])
    extra = len(names) - MAX_LISTED
    return shown + (f" and {extra} more" if extra > 0 else "")


def _header(view: IncidentView) -> Container:
    severity = view.severity
    return Container(
        style=SEVERITY_STYLE[severity],
        bleed=True,
        items=[
            TextBlock(
                text=f"{SERVICE_NAME} · Managed response",
                size="Small",
                weight="Bolder",
                color="Accent",
                wrap=True,
            ),
            TextBlock(
                text=f"{SEVERITY_MARK[severity]} {view.severity_label} severity",
                weight="Bolder",
                color=SEVERITY_COLOR[severity],
                wrap=True,
                spacing="Small",
            ),
            TextBlock(text=md(view.title), size="Large", weight="Bolder", wrap=True),
            TextBlock(
                text=f"Incident {md(view.incident_id)}",
                is_subtle=True,
                wrap=True,
                spacing="None",
            ),
        ],
    )


def _completed(rows: Sequence[CompletedRow]) -> list[CardElement]:
    items: list[CardElement] = [
        TextBlock(text="Completed actions", weight="Bolder", wrap=True, separator=True)
    ]
    if not rows:
        items.append(para("None yet.", is_subtle=True, spacing="None"))
    for row in rows[:MAX_ACTIONS_SHOWN]:
        when = f" · {md(row.when)}" if row.when else ""
        items.append(
            ColumnSet(
                spacing="Small",
                columns=[
                    Column(
                        width="stretch",
                        items=[
                            TextBlock(text=md(row.label), weight="Bolder", wrap=True),
                            para(md(clip(row.target, MAX_NAME)), spacing="None"),
                        ],
                    ),
                    Column(
                        width="auto",
                        items=[
                            TextBlock(
                                text=f"{md(row.status_label)}{when}",
                                color=COMPLETED_COLOR.get(row.status, "Default"),
                                wrap=True,
                            )
                        ],
                    ),
                ],
            )
        )
    if len(rows) > MAX_ACTIONS_SHOWN:
        items.append(
            para(f"And {len(rows) - MAX_ACTIONS_SHOWN} more in Microsoft Defender.", is_subtle=True)
        )
    return items


def _confirm(
    title: str, question: str, yes: str, verb: str, data: dict[str, object]
) -> ShowCardAction:
    return ShowCardAction(
        title=title,
        card=AdaptiveCard(
            version=CARD_VERSION,
            body=[para(question)],
            actions=[
                execute(
                    yes,
                    verb,
                    data,
                    inputs=False,
                    style="destructive" if verb == ACTION_SKIP else "positive",
                )
            ],
        ),
    )


def _pending_row(view: IncidentView, row: PendingRow) -> Container:
    target = clip(row.target, MAX_NAME)
    items: list[CardElement] = [
        TextBlock(text=md(row.label), weight="Bolder", wrap=True),
        para(md(target), spacing="None"),
    ]
    if row.instructions:
        items.append(para(md(clip(row.instructions, MAX_INSTRUCTIONS)), spacing="None"))
    if row.state == "pending":
        items.append(TextBlock(text="Pending", color="Warning", wrap=True, spacing="Small"))
        data: dict[str, object] = {
            "incidentId": view.incident_id,
            "actionId": row.id,
            "revision": view.revision,
        }
        what = f"{row.label} on {target}"
        items.append(
            ActionSet(
                actions=[
                    _confirm(
                        "I've completed this action",
                        f"Confirm that you've completed: {md(what)}.",
                        "Yes, I've done it",
                        ACTION_COMPLETE,
                        data,
                    ),
                    _confirm(
                        "Skip this action",
                        f"Confirm that you're skipping: {md(what)}. The experts will be told.",
                        "Yes, skip this action",
                        ACTION_SKIP,
                        data,
                    ),
                ]
            )
        )
    else:
        verb = "Completed" if row.state == "completed" else "Skipped"
        items.append(
            TextBlock(
                text=f"{verb} by {md(row.by)} · {md(row.when)}",
                color="Good" if row.state == "completed" else "Default",
                wrap=True,
                spacing="Small",
            )
        )
    return Container(separator=True, items=items)


def _pending(view: IncidentView) -> list[CardElement]:
    items: list[CardElement] = [
        TextBlock(text="Pending actions", weight="Bolder", wrap=True, separator=True)
    ]
    if not view.pending:
        items.append(para("Nothing for you to do right now.", is_subtle=True, spacing="None"))
    ordered = sorted(view.pending, key=lambda r: r.state != "pending")
    items.extend(_pending_row(view, row) for row in ordered[:MAX_PENDING_SHOWN])
    if len(ordered) > MAX_PENDING_SHOWN:
        items.append(
            para(
                f"And {len(ordered) - MAX_PENDING_SHOWN} more in Microsoft Defender.",
                is_subtle=True,
            )
        )
    return items


def incident_card(view: IncidentView) -> AdaptiveCard:
    """The card of one incident, as of the revision and the answers in the view."""
    body: list[CardElement] = [
        _header(view),
        *notice(view.notice),
        facts(
            [
                ("Status", md(view.status_label)),
                ("Assigned to", md(view.assigned_to) or "Unassigned"),
                ("Classification", md(view.classification)),
                ("Determination", md(view.determination)),
                ("Devices", _listed(view.devices)),
                ("Users", _listed(view.users)),
            ]
        ),
        TextBlock(text="What our experts found", weight="Bolder", wrap=True, separator=True),
        para(md(clip(view.summary, MAX_SUMMARY)) or "The experts are investigating."),
        *_completed(view.completed),
        *_pending(view),
    ]
    if view.acknowledged_by:
        body.append(
            TextBlock(
                text=f"Acknowledged by {md(view.acknowledged_by)} · {md(view.acknowledged_when)}",
                color="Good",
                wrap=True,
                separator=True,
            )
        )
    analyst = f" · {md(view.analyst)}" if view.analyst else ""
    body.append(
        TextBlock(
            text=f"Revision {view.revision} · Updated {md(view.updated)}{analyst}",
            size="Small",
            is_subtle=True,
            wrap=True,
            separator=True,
        )
    )
    actions: list[Action] = [OpenUrlAction(title="Open in Microsoft Defender", url=view.web_url)]
    if not view.acknowledged_by:
        actions.append(
            execute(
                "Acknowledge",
                ACKNOWLEDGE,
                {"incidentId": view.incident_id, "revision": view.revision},
                inputs=False,
                style="positive",
            )
        )
    return AdaptiveCard(
        version=CARD_VERSION,
        body=body,
        actions=actions,
        fallback_text=f"{view.severity_label} severity incident {view.incident_id}: "
        f"{clip(view.title, 200)}",
    )
