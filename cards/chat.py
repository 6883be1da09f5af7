"""Chat cards: an expert's answer and the virtual assistant's messages in Teams, and the
acknowledgement and instructions of ``ask`` in personal chat.

The expert's text goes in a ``TextRun`` of a ``RichTextBlock``: Teams shows it as written, with
no markdown, mention or link made from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from cards import verbs
from cards.common import card, execute, para
from cards.elements import (
    AdaptiveCard,
    CardElement,
    ExecuteAction,
    RichTextBlock,
    TextBlock,
    TextRun,
)

VERB_PREFIX = "chat."
ASK_VERB = "chat.ask"
STOP_VERB = "chat.stop"
ASK_TITLE = "Ask Defender Experts"


@dataclass(frozen=True)
class AnswerView:
    author: str
    """The expert's display name, or the virtual assistant's label."""
    text: str
    assistant: bool = False


def _literal(text: str) -> RichTextBlock:
    inlines = [TextRun(text=text)]
    return RichTextBlock(inlines=inlines)


def answer_card(view: AnswerView) -> AdaptiveCard:
    """An answer in a thread: who wrote it, for Defender Experts, then the text as written."""
    byline = "Defender Experts virtual assistant" if view.assistant else view.author
    service = "Automated message" if view.assistant else "Defender Experts"
    heading = [
        TextRun(text=byline, weight="Bolder"),
        TextRun(text=f"  ·  {service}", is_subtle=True),
    ]
    body: list[CardElement] = [RichTextBlock(inlines=heading), _literal(view.text)]
    return card(body)


def ask_action() -> ExecuteAction:
    """The **Ask Defender Experts** button, for the help and welcome cards."""
    return execute(ASK_TITLE, ASK_VERB, {}, inputs=False)


@dataclass(frozen=True)
class AskView:
    user_name: str
    allowed: bool
    open: bool = True


def ask_card(view: AskView) -> AdaptiveCard:
    """What ``ask`` (or the button) answers in personal chat."""
    if not view.allowed:
        body: list[CardElement] = [
            TextBlock(text="Ask Defender Experts", size="Large", weight="Bolder", wrap=True),
            para(
                "Only your organization's Global or Security Administrators and its Defender "
                "Experts notification contacts can ask the experts from here. To become a "
                "contact, ask an administrator to add you under **Contacts** in the Defender "
                "Experts settings (type **settings**)."
            ),
        ]
        return card(body, [execute("Help", verbs.HELP, {}, inputs=False)])
    if not view.open:
        return card(
            [
                TextBlock(text="Chat with the experts ended", size="Large", weight="Bolder"),
                para(
                    "Your messages here no longer go to the Defender Experts. Type **ask** or "
                    "select the button to write to them again."
                ),
            ],
            [execute(ASK_TITLE, ASK_VERB, {}, inputs=False)],
        )
    who = f"{view.user_name}, write" if view.user_name else "Write"
    body = [
        TextBlock(text="You're talking to Defender Experts", size="Large", weight="Bolder"),
        para(
            f"{who} your question in this chat: every message you send here now goes to the "
            "Defender Experts, who answer here. They can't view attachments."
        ),
        para(
            "Commands such as **setup**, **settings** and **help** still work. Type **stop** to "
            "stop sending messages to the experts.",
            is_subtle=True,
        ),
    ]
    return card(body, [execute("Stop", STOP_VERB, {}, inputs=False)])


ATTACHMENTS_NOTICE = (
    "Defender Experts can't view attachments or images. The experts can see that you sent one "
    "and its file name: describe what it shows in a reply, or share it the way your service "
    "delivery manager agreed."
)
TOP_LEVEL_NOTICE = (
    "Defender Experts only see replies to their own posts in this team, so they won't see this "
    "message. To reach them, reply in the thread of an incident's post or of the welcome post, "
    "or chat with me and type **ask**."
)


def acknowledgement_text(minutes: int, *, personal: bool = False) -> str:
    where = "chat" if personal else "thread"
    return (
        "Thanks, your message has reached Defender Experts. An expert will answer in this "
        f"{where}, usually within {minutes} minutes. You don't need to send it again."
    )
