"""Cards of the Teams provisioning saga: the admin's progress card and the channel's welcome post.

The progress card is updated in place at every step ("Step n of 5"). It ends with an
**Open Teams channel** link, or with what to do and a **Retry** action when a step failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cards.common import THREAD_REPLIES, card, execute, facts, header, notice, para
from cards.elements import Action, AdaptiveCard, CardElement, Column, ColumnSet, OpenUrlAction
from cards.views import Notice

RETRY = "provisioning.retry"
REFRESH = "provisioning.refresh"
VERB_PREFIX = "provisioning."

StepState = Literal["done", "current", "waiting", "failed", "pending"]
Phase = Literal["running", "waiting", "ready", "failed", "removed", "off"]

_STATE: dict[StepState, str] = {
    "done": "Done",
    "current": "In progress",
    "waiting": "Waiting",
    "failed": "Failed",
    "pending": "Not started",
}
ADD_MEMBERS = (
    "To add people, open the **Defender Experts team**, select **More options (…)** > "
    "**Manage team** > **Add member**."
)
APP_ACCESS = (
    "Defender Experts has access to all messages posted on any channel of this team. To stop "
    "this, go to **Apps** in Teams, then **Manage your apps** > **Defender Experts** > "
    "**Remove**. This removal action cannot be reversed."
)


@dataclass(frozen=True)
class StepLine:
    number: int
    title: str
    state: StepState


@dataclass(frozen=True)
class ProgressView:
    """What the admin's progress card shows."""

    steps: tuple[StepLine, ...]
    current: int
    phase: Phase
    team_name: str
    channel_name: str
    channel_url: str = ""
    failure_title: str = ""
    failure_text: str = ""
    permissions: tuple[str, ...] = ()
    hint: str = ""
    notice: Notice | None = None


@dataclass(frozen=True)
class WelcomePostView:
    team_name: str
    channel_name: str


def _title(view: ProgressView) -> tuple[str, str]:
    total = len(view.steps)
    line = next((s for s in view.steps if s.number == view.current), None)
    where = f"Step {view.current} of {total}" + (f": {line.title}" if line else "")
    if view.phase == "ready":
        return "Microsoft Teams is ready", f"Step {total} of {total} · done"
    if view.phase == "failed":
        return "Teams setup needs your attention", f"Stopped at {where.lower()}"
    if view.phase == "removed":
        return "Defender Experts was removed from the team", where
    if view.phase == "off":
        return "Teams communication is off", "Settings > Defender Experts > Teams"
    return "Setting up Microsoft Teams", where


def progress_card(view: ProgressView) -> AdaptiveCard:
    title, subtitle = _title(view)
    body: list[CardElement] = [header(title, subtitle), *notice(view.notice)]
    for step in view.steps:
        label = _STATE[step.state]
        strong = step.state in ("current", "waiting", "failed")
        body.append(
            ColumnSet(
                spacing="Small",
                columns=[
                    Column(
                        width="stretch",
                        items=[
                            para(
                                f"{step.number}. {step.title}",
                                weight="Bolder" if strong else None,
                                is_subtle=step.state == "pending",
                            )
                        ],
                    ),
                    Column(
                        width="auto",
                        items=[
                            para(
                                label,
                                is_subtle=step.state == "pending",
                                weight="Bolder" if strong else None,
                            )
                        ],
                    ),
                ],
            )
        )
    actions: list[Action] = []
    if view.phase == "failed":
        body += notice(Notice(view.failure_title or "A step failed", "error"))
        if view.failure_text:
            body.append(para(view.failure_text))
        if view.permissions:
            body.append(facts([("Permission needed", p) for p in view.permissions]))
        actions.append(execute("Retry", RETRY, {"step": view.current}, style="positive"))
    elif view.phase == "ready":
        body += notice(
            Notice(
                f"The {view.team_name} and its {view.channel_name} channel are ready. Managed "
                "response notifications will be posted there.",
                "good",
            )
        )
        body.append(para(ADD_MEMBERS))
        if view.channel_url:
            actions.append(OpenUrlAction(title="Open Teams channel", url=view.channel_url))
    elif view.phase == "off":
        body.append(
            para(
                f"The {view.team_name} is kept, but Defender Experts doesn't post there. Turn "
                "**Communicate on Teams** on again in the settings to resume."
            )
        )
    elif view.phase == "removed":
        body.append(
            para(
                f"The app was removed from the {view.team_name}, so Defender Experts can't post "
                "in its channel. Select Retry to add it back."
            )
        )
        actions.append(execute("Retry", RETRY, {"step": view.current}, style="positive"))
    else:
        if view.hint:
            body.append(para(view.hint, is_subtle=True))
        actions.append(execute("Refresh", REFRESH, {}, inputs=False))
    return card(body, actions)


def welcome_post_card(view: WelcomePostView) -> AdaptiveCard:
    body: list[CardElement] = [
        header(f"Welcome to {view.channel_name}", view.team_name),
        para(
            "Defender Experts posts managed response notifications in this channel: every "
            "incident our experts work on becomes a new post here, updated as the investigation "
            "moves on. Act on a post's buttons to acknowledge it or to answer a pending action."
        ),
        para(THREAD_REPLIES),
        para(ADD_MEMBERS),
        para(APP_ACCESS, is_subtle=True, size="Small"),
    ]
    return card(body)
