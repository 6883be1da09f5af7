"""The incident card: one post per incident in the Managed response channel, updated in place.

Everything shown comes from the experts' notification or from the channel's members, so every
string is escaped before it reaches a TextBlock (Teams renders a Markdown subset there).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from cards.common import CARD_VERSION, SERVICE_NAME, Style, execute, facts, notice, para
from cards.elements import (
    Action,
    ActionSet,
    AdaptiveCard,
    CardElement,
    Container,
    OpenUrlAction,
    ShowCardAction,
    TextBlock,
)
from cards.incident_views import (
    ACKNOWLEDGE,
    ACTION_COMPLETE,
    ACTION_SKIP,
    IncidentView,
    PendingRow,
)

MAX_LISTED = 10
MAX_SUMMARY = 1500
MAX_INSTRUCTIONS = 300
MAX_NAME = 80
MAX_ACTIONS_SHOWN = 10
MAX_PENDING_SHOWN = 8

SEVERITY_STYLE: dict[str, Style] = {
    "high": "attention",
    "medium": "warning",
    "low": "accent",
    "informational": "emphasis",
}
SEVERITY_MARK = {"high": "▲▲▲", "medium": "▲▲", "low": "▲", "informational": "●"}
STRONG_STATUS = frozenset({"failed"})

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
                wrap=True,
            ),
            TextBlock(
                text=f"{SEVERITY_MARK[severity]} {view.severity_label} severity",
                weight="Bolder",
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


def _status_row(label: str, target: str, status: str, *, strong: bool = False) -> Container:
    """One action: what, on what, and its state in words (stacked, so a long name or state
    never squeezes the others)."""
    return Container(
        spacing="Small",
        items=[
            TextBlock(text=md(label), weight="Bolder", wrap=True),
            para(md(clip(target, MAX_NAME)), spacing="None"),
            TextBlock(text=status, weight="Bolder" if strong else None, wrap=True, spacing="None"),
        ],
    )


def _answered(row: PendingRow) -> str:
    verb = "Completed" if row.state == "completed" else "Skipped"
    return f"{verb} by {md(row.by)}" + (f" · {md(row.when)}" if row.when else "")


def _more(count: int, limit: int) -> list[CardElement]:
    if count <= limit:
        return []
    return [para(f"And {count - limit} more in Microsoft Defender.", is_subtle=True)]


def _completed(view: IncidentView) -> list[CardElement]:
    """The experts' actions, then the pending actions the customer's team has completed."""
    rows = view.completed
    done = [r for r in view.pending if r.state == "completed"]
    items: list[CardElement] = [
        TextBlock(text="Completed actions", weight="Bolder", wrap=True, separator=True)
    ]
    if not rows and not done:
        items.append(para("None yet.", is_subtle=True, spacing="None"))
    for row in rows[:MAX_ACTIONS_SHOWN]:
        when = f" · {md(row.when)}" if row.when else ""
        items.append(
            _status_row(
                row.label,
                row.target,
                f"{md(row.status_label)}{when}",
                strong=row.status in STRONG_STATUS,
            )
        )
    items += _more(len(rows), MAX_ACTIONS_SHOWN)
    for answered in done[:MAX_PENDING_SHOWN]:
        items.append(_status_row(answered.label, answered.target, _answered(answered)))
    items += _more(len(done), MAX_PENDING_SHOWN)
    return items


def _skipped(view: IncidentView) -> list[CardElement]:
    skipped = [r for r in view.pending if r.state == "skipped"]
    if not skipped:
        return []
    items: list[CardElement] = [
        TextBlock(text="Skipped actions", weight="Bolder", wrap=True, separator=True)
    ]
    for row in skipped[:MAX_PENDING_SHOWN]:
        items.append(_status_row(row.label, row.target, _answered(row)))
    return items + _more(len(skipped), MAX_PENDING_SHOWN)


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
    return Container(separator=True, items=items)


def _pending(view: IncidentView) -> list[CardElement]:
    """Only the actions still waiting for the customer; answered ones move to the completed or
    skipped actions."""
    waiting = [r for r in view.pending if r.state == "pending"]
    items: list[CardElement] = [
        TextBlock(
            text=f"Pending actions ({len(waiting)})" if waiting else "Pending actions",
            weight="Bolder",
            wrap=True,
            separator=True,
        )
    ]
    if not waiting:
        items.append(para("Nothing for you to do right now.", is_subtle=True, spacing="None"))
    items.extend(_pending_row(view, row) for row in waiting[:MAX_PENDING_SHOWN])
    return items + _more(len(waiting), MAX_PENDING_SHOWN)


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
        *_pending(view),
        *_completed(view),
        *_skipped(view),
    ]
    if view.acknowledged_by:
        body.append(
            TextBlock(
                text=f"Acknowledged by {md(view.acknowledged_by)} · {md(view.acknowledged_when)}",
                weight="Bolder",
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
