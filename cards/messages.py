"""Welcome, help, refusal and status cards."""

from __future__ import annotations

from cards import verbs
from cards.chat import ask_action
from cards.common import card, execute, facts, header, notice, para
from cards.elements import AdaptiveCard, CardElement
from cards.views import HelpView, MessageView, NotAuthorizedView, WelcomeView


def welcome_card(view: WelcomeView) -> AdaptiveCard:
    greeting = f"Welcome, {view.user_name}!" if view.user_name else "Welcome!"
    body: list[CardElement] = [
        header(greeting, "Microsoft Defender Experts for XDR"),
        para(
            "I'm the Defender Experts bot. I help you set up the managed detection and response "
            "service: grant permissions to our experts, exclude device and user groups from "
            "remediation, choose who we contact, and receive managed response notifications in "
            "Microsoft Teams."
        ),
        para(
            "Setting up needs the **Global Administrator** or **Security Administrator** role.",
            is_subtle=True,
        ),
    ]
    if view.configured:
        actions = [
            execute("View settings", verbs.SETTINGS_SHOW, {}, inputs=False, style="positive"),
            ask_action(),
            execute("Help", verbs.HELP, {}, inputs=False),
        ]
    else:
        actions = [
            execute("Get started", verbs.SETUP_START, {}, inputs=False, style="positive"),
            ask_action(),
            execute("Help", verbs.HELP, {}, inputs=False),
        ]
    return card(body, actions)


def help_card(view: HelpView) -> AdaptiveCard:
    body: list[CardElement] = [
        header("What I can do"),
        *notice(view.notice),
        facts([(c.name, c.description) for c in view.commands]),
        para("Type a command in the chat, or use the buttons below.", is_subtle=True),
    ]
    if view.configured:
        actions = [execute("View settings", verbs.SETTINGS_SHOW, {}, inputs=False)]
    else:
        actions = [execute("Get started", verbs.SETUP_START, {}, inputs=False, style="positive")]
    return card(body, [*actions, ask_action()])


def not_authorized_card(view: NotAuthorizedView) -> AdaptiveCard:
    roles = " or ".join(f"**{r}**" for r in view.roles)
    who = f"{view.user_name}, you" if view.user_name else "You"
    body: list[CardElement] = [
        header("You can't change Defender Experts settings"),
        *notice_error(
            f"{who} need the {roles} role in Microsoft Entra ID to run the setup or "
            "change settings. Nothing was changed."
        ),
        para(
            "Ask an administrator with one of these roles to complete this step, or to assign "
            "you the role."
        ),
    ]
    return card(body)


def notice_error(text: str) -> list[CardElement]:
    from cards.views import Notice

    return notice(Notice(text, "error"))


def message_card(view: MessageView) -> AdaptiveCard:
    body: list[CardElement] = [header(view.title), *notice(view.notice), para(view.text)]
    actions = [execute(title, verb, {}, inputs=False) for verb, title in view.actions]
    return card(body, actions)
