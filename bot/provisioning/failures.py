"""Known provisioning failures, each with an actionable message for the admin.

Microsoft documents the HTTP status and the ``{"error": {"code", "message"}}`` shape, not the
wording of every refusal, so the policy failures are recognized by the phrases their messages
carry (``EnableGroupCreation``, "permission policy", "license"). Anything else still gets a
message that says what to do, with the ``request-id`` for Microsoft support.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.messaging import DeliveryError
from bot.provisioning.model import CHANNEL_NAME, TEAM_NAME, Failure
from bot.provisioning.ports import (
    Conflict,
    Forbidden,
    NotFound,
    OperationState,
    PortError,
    Refused,
    SignInFailed,
    Throttled,
)

# The application permissions each call needs (least privileged), named when Graph doesn't.
CALL_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "find_team": ("GroupMember.Read.All",),
    "get_group": ("GroupMember.Read.All",),
    "get_team": ("Team.ReadBasic.All",),
    "create_team": ("Team.Create",),
    "create_team_from_group": ("Team.Create",),
    "operation": ("Team.ReadBasic.All",),
    "unarchive_team": ("TeamSettings.ReadWrite.All",),
    "find_channel": ("Channel.ReadBasic.All",),
    "get_channel": ("Channel.ReadBasic.All",),
    "create_channel": ("Channel.Create",),
    "unarchive_channel": ("ChannelSettings.ReadWrite.All",),
    # The app asks for resource-specific consent: only the ...AndConsent... permissions can
    # install it (the Graph adapter names ...AndConsentForTeam.All for a separate Graph app).
    "app_installed": ("TeamsAppInstallation.ReadWriteAndConsentSelfForTeam.All",),
    "install_app": ("TeamsAppInstallation.ReadWriteAndConsentSelfForTeam.All",),
}

_GROUP_CREATION = re.compile(
    r"EnableGroupCreation|GroupCreation(?:Not)?(?:Allowed|Disabled)|group creation|"
    r"not allowed to create (?:a |the )?(?:microsoft 365 |unified )?groups?",
    re.IGNORECASE,
)
_APP_POLICY = re.compile(r"permission polic|app polic|blocked by|app is blocked", re.IGNORECASE)
_LICENSE = re.compile(r"licen[cs]e", re.IGNORECASE)
# What POST /teams answers at once (403) when the owner has no Teams license, as reported
# publicly: "Failed to execute Templates backend request CreateTeamFromTemplateRequest. ...
# GetApplicableSkuCategoriesForUserFailed". It names neither licenses nor group creation.
_OWNER_SKUS = re.compile(r"GetApplicableSkuCategoriesForUser", re.IGNORECASE)
_NAME_TAKEN = re.compile(r"already exist|NameAlreadyExists|name .*(?:in use|taken)", re.IGNORECASE)


class StepError(Exception):
    """A provisioner or messenger call failed; ``call`` names it (see CALL_PERMISSIONS)."""

    def __init__(self, call: str, error: Exception) -> None:
        super().__init__(f"{call}: {error}")
        self.call = call
        self.error = error


class KnownFailure(Exception):
    """Stop the saga with this failure."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.kind)
        self.failure = failure


@dataclass(frozen=True)
class Verdict:
    failure: Failure
    retryable: bool


def _retry_text(extra: str = "") -> str:
    return (extra + " " if extra else "") + "Then select Retry."


def group_creation_disabled(step: int, request_id: str = "") -> Failure:
    return Failure(
        kind="group_creation_disabled",
        title="Microsoft 365 group creation is turned off",
        message=(
            f"Your organization doesn't allow Microsoft 365 group creation "
            f"(EnableGroupCreation is false), and every team is backed by a group, so the "
            f"{TEAM_NAME} couldn't be created. A Global Administrator can allow it for the "
            "admin who set this up: add them to the group named in GroupCreationAllowedGroupId, "
            "or set EnableGroupCreation to true in the Group.Unified directory setting. "
            + _retry_text()
        ),
        step=step,
        request_id=request_id,
    )


def team_not_private(step: int) -> Failure:
    return Failure(
        kind="team_not_private",
        title=f"Another {TEAM_NAME} already exists",
        message=(
            f"A team named '{TEAM_NAME}' already exists and isn't private: rename or delete it "
            "(Teams admin center > Teams > Manage teams), then select Retry. Defender Experts "
            "posts incident details in its team, so it only creates or uses a private one."
        ),
        step=step,
    )


def app_blocked(step: int, request_id: str = "") -> Failure:
    return Failure(
        kind="app_blocked",
        title="A Teams app permission policy blocks the Defender Experts app",
        message=(
            "In the Teams admin center, go to Teams apps > Permission policies, open each policy "
            "assigned to your users (including Global), and allow Defender Experts. Policy "
            "changes can take up to 24 hours to apply. " + _retry_text()
        ),
        step=step,
        request_id=request_id,
    )


def no_teams_license(step: int, request_id: str = "", *, said: str = "") -> Failure:
    return Failure(
        kind="no_teams_license",
        title="A Microsoft Teams license is missing",
        message=(
            said
            + f"The admin who turned on Teams becomes the owner of the {TEAM_NAME}, and needs a "
            "Microsoft Teams license. Assign one in the Microsoft 365 admin center (Users > "
            "Active users > Licenses and apps) and wait a few minutes. " + _retry_text()
        ),
        step=step,
        request_id=request_id,
    )


def missing_permissions(step: int, permissions: tuple[str, ...], request_id: str = "") -> Failure:
    names = ", ".join(permissions) or "the permissions listed in the setup guide"
    return Failure(
        kind="missing_permissions",
        title="The app is missing Microsoft Graph permissions",
        message=(
            f"Microsoft Graph refused the request because the Defender Experts app registration "
            f"lacks this application permission: {names}. In the Microsoft Entra admin center, "
            "go to App registrations > Defender Experts > API permissions, add it (Microsoft "
            "Graph > Application permissions), and select Grant admin consent. " + _retry_text()
        ),
        permissions=permissions,
        step=step,
        request_id=request_id,
    )


def app_not_in_catalog(step: int, request_id: str = "") -> Failure:
    return Failure(
        kind="app_not_in_catalog",
        title="The Defender Experts app isn't in your app catalog",
        message=(
            "Teams couldn't find the app to install in the team. In the Teams admin center, go "
            "to Teams apps > Manage apps and upload or allow the Defender Experts app package "
            "(and check TEAMS_APP_CATALOG_ID). " + _retry_text()
        ),
        step=step,
        request_id=request_id,
    )


def channel_name_taken(step: int, request_id: str = "") -> Failure:
    return Failure(
        kind="channel_name_taken",
        title=f"The {CHANNEL_NAME} channel name is still taken",
        message=(
            f"A deleted channel named {CHANNEL_NAME} still holds the name. In Teams, open the "
            f"{TEAM_NAME} > More options (…) > Manage team > Channels, and restore the deleted "
            "channel. " + _retry_text()
        ),
        step=step,
        request_id=request_id,
    )


def archived(step: int, what: str, request_id: str = "") -> Failure:
    if what == "team":
        name, where = TEAM_NAME, "Teams > Manage teams > Archived"
    else:
        name, where = f"{CHANNEL_NAME} channel", "the team's Manage team > Channels > Archived"
    return Failure(
        kind=f"{what}_archived",
        title=f"The {name} is archived",
        message=(
            f"Defender Experts can't post in an archived {what}, and couldn't restore it. "
            f"Restore it in {where}, or grant the app the permission to restore it. "
            + _retry_text()
        ),
        step=step,
        request_id=request_id,
    )


def credentials(step: int, error: PortError) -> Failure:
    return Failure(
        kind="credentials",
        title="Defender Experts couldn't sign in to Microsoft Graph",
        message=(
            "Microsoft Entra ID refused the app's credentials. Ask whoever runs the Defender "
            "Experts bot to check GRAPH_TENANT_ID, GRAPH_CLIENT_ID and the client certificate or "
            "secret (it may have expired). " + _retry_text()
        ),
        step=step,
        request_id=error.request_id,
    )


def throttled(step: int, request_id: str = "") -> Failure:
    return Failure(
        kind="throttled",
        title="Microsoft Teams is busy",
        message="Microsoft Teams is throttling requests right now. Wait a few minutes. "
        + _retry_text(),
        step=step,
        request_id=request_id,
    )


def unavailable(step: int, request_id: str = "") -> Failure:
    return Failure(
        kind="unavailable",
        title="Microsoft Teams didn't answer",
        message="Microsoft Teams or Microsoft Graph is unavailable right now. Wait a few "
        "minutes. " + _retry_text(),
        step=step,
        request_id=request_id,
    )


def timed_out(step: int) -> Failure:
    return Failure(
        kind="timeout",
        title="Teams is taking longer than usual",
        message=f"Teams hasn't finished creating the {TEAM_NAME} yet. "
        + _retry_text("Wait a few minutes, and check again."),
        step=step,
    )


def operation_failed(step: int, state: OperationState) -> Failure:
    text = f"{state.error_code} {state.error_message}"
    if _GROUP_CREATION.search(text):
        return group_creation_disabled(step)
    if _LICENSE.search(text):
        return no_teams_license(step)
    code = f" (error code {state.error_code})" if state.error_code else ""
    return Failure(
        kind="operation_failed",
        title=f"Teams couldn't create the {TEAM_NAME}",
        message=f"Microsoft Teams reported that creating the team failed{code}. " + _retry_text(),
        step=step,
    )


def generic(step: int, request_id: str = "", detail: str = "") -> Failure:
    ref = f" Reference for Microsoft support: request-id {request_id}." if request_id else ""
    return Failure(
        kind="unexpected",
        title="Teams setup stopped",
        message=f"Something unexpected stopped the setup{detail}. " + _retry_text() + ref,
        step=step,
        request_id=request_id,
    )


def classify(exc: BaseException, step: int) -> Verdict:
    """Turn what stopped a step into a failure, and say if trying again soon may help."""
    call = exc.call if isinstance(exc, StepError) else ""
    error = exc.error if isinstance(exc, StepError) else exc
    if isinstance(error, KnownFailure):
        return Verdict(error.failure, False)
    if isinstance(error, DeliveryError):
        if error.retryable:
            return Verdict(unavailable(step), True)
        return Verdict(generic(step, detail=f" (Teams answered {error.status})"), False)
    if not isinstance(error, PortError):
        return Verdict(generic(step), False)
    rid = error.request_id
    text = f"{error.code} {error.message}"
    if isinstance(error, SignInFailed):
        return Verdict(credentials(step, error), False)
    if isinstance(error, Throttled):
        return Verdict(throttled(step, rid), True)
    if error.retryable:
        return Verdict(unavailable(step, rid), True)
    if call == "create_team" and _GROUP_CREATION.search(text):
        return Verdict(group_creation_disabled(step, rid), False)
    if call == "install_app" and _APP_POLICY.search(text):
        return Verdict(app_blocked(step, rid), False)
    if call in ("create_team", "create_team_from_group") and _OWNER_SKUS.search(text):
        said = (
            "Microsoft Teams couldn't look up the licenses of the team's owner "
            "(GetApplicableSkuCategoriesForUserFailed), which it answers when the owner has no "
            "Teams license. "
        )
        return Verdict(no_teams_license(step, rid, said=said), False)
    licensed_calls = ("create_team", "create_team_from_group", "install_app", "create_channel")
    if _LICENSE.search(text) and call in licensed_calls:
        return Verdict(no_teams_license(step, rid), False)
    if isinstance(error, Forbidden):
        named = error.permissions or CALL_PERMISSIONS.get(call, ())
        return Verdict(missing_permissions(step, named, rid), False)
    if call == "install_app" and isinstance(error, NotFound | Refused):
        return Verdict(app_not_in_catalog(step, rid), False)
    if call == "create_channel" and (isinstance(error, Conflict) or _NAME_TAKEN.search(text)):
        return Verdict(channel_name_taken(step, rid), False)
    if isinstance(error, NotFound) and call not in ("create_team", "find_team"):
        # A new team's resources can take a while to replicate.
        return Verdict(
            Failure(
                kind="team_not_ready",
                title="The team isn't ready yet",
                message=f"Microsoft Teams is still setting up the {TEAM_NAME}. Wait a few "
                "minutes. " + _retry_text(),
                step=step,
                request_id=rid,
            ),
            True,
        )
    return Verdict(generic(step, rid), False)
