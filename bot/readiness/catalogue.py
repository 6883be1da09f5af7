"""The catalogue of readiness checks, each with the signal that decides it.

``docs/readiness.md`` describes the same table for people; keep both in step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from bot.readiness.ports import (
    Controls,
    DeviceCoverage,
    IdentityCoverage,
    Licences,
    ServiceChoices,
)

Signal = Literal["devices", "identities", "controls", "settings"]
Verdict = bool | None
"""True: the signal confirms the check; False: it doesn't; None: the signal can't say."""

ONBOARD_DEVICES_URL = "https://learn.microsoft.com/defender-endpoint/onboarding"
INSTALL_SENSORS_URL = "https://learn.microsoft.com/defender-for-identity/deploy/install-sensor"
TAMPER_URL = "https://learn.microsoft.com/defender-endpoint/prevent-changes-to-security-settings-with-tamper-protection"
CLOUD_URL = "https://learn.microsoft.com/defender-endpoint/enable-cloud-protection-microsoft-defender-antivirus"
AV_URL = "https://learn.microsoft.com/defender-endpoint/microsoft-defender-antivirus-windows"
ASR_URL = "https://learn.microsoft.com/defender-endpoint/attack-surface-reduction-rules-reference"
SETTINGS_URL = "https://learn.microsoft.com/defender-xdr/get-started-xdr"


@dataclass(frozen=True)
class Facts:
    """The last good value of every signal (None when it was never read)."""

    licences: Licences | None
    devices: DeviceCoverage | None
    identities: IdentityCoverage | None
    controls: Controls | None
    settings: ServiceChoices


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    why: str
    how_url: str
    signal: Signal
    required: bool
    decide: Callable[[Facts], Verdict]


def devices_at_target(f: Facts) -> Verdict:
    if f.licences is None or f.devices is None:
        return None
    return f.devices.reporting >= f.licences.endpoint


def identities_at_target(f: Facts) -> Verdict:
    if f.licences is None or f.identities is None:
        return None
    return f.identities.covered >= f.licences.identity


def control(control_id: str) -> Callable[[Facts], Verdict]:
    def decide(f: Facts) -> Verdict:
        if f.controls is None:
            return None
        state = f.controls.states.get(control_id, "missing")
        return None if state == "missing" else state == "on"

    return decide


# Microsoft Secure Score control ids (secureScoreControlProfiles ``id``, service MDATP).
TAMPER_PROTECTION = "scid_2003"
ANTIVIRUS = "scid_2010"
CLOUD_PROTECTION = "scid_2016"
ASR_LSASS = "scid_2509"
ASR_OFFICE_CHILD = "scid_2501"

CATALOGUE: tuple[Check, ...] = (
    Check(
        "devices",
        "Onboard your devices to Defender for Endpoint",
        "The experts can only watch and respond on devices that are onboarded and reporting.",
        ONBOARD_DEVICES_URL,
        "devices",
        True,
        devices_at_target,
    ),
    Check(
        "identities",
        "Install Defender for Identity sensors",
        "Sensors on your domain controllers let the experts see identity attacks.",
        INSTALL_SENSORS_URL,
        "identities",
        True,
        identities_at_target,
    ),
    Check(
        "tamper",
        "Turn on tamper protection",
        "Stops attackers from turning off Defender on a device they took over.",
        TAMPER_URL,
        "controls",
        True,
        control(TAMPER_PROTECTION),
    ),
    Check(
        "antivirus",
        "Turn on Microsoft Defender Antivirus",
        "Blocks known malware before the experts have to respond to it.",
        AV_URL,
        "controls",
        True,
        control(ANTIVIRUS),
    ),
    Check(
        "cloud",
        "Turn on cloud-delivered protection",
        "Blocks new threats within seconds, from Microsoft's cloud.",
        CLOUD_URL,
        "controls",
        True,
        control(CLOUD_PROTECTION),
    ),
    Check(
        "asr-lsass",
        "Block credential stealing from LSASS (attack surface reduction rule)",
        "Stops the most common way attackers take passwords from a device.",
        ASR_URL,
        "controls",
        False,
        control(ASR_LSASS),
    ),
    Check(
        "asr-office",
        "Block Office apps from creating child processes (attack surface reduction rule)",
        "Stops malicious documents from starting other programs.",
        ASR_URL,
        "controls",
        False,
        control(ASR_OFFICE_CHILD),
    ),
    Check(
        "incident-contact",
        "Add an incident notification contact",
        "The experts need someone to tell about an incident and the actions it needs.",
        SETTINGS_URL,
        "settings",
        True,
        lambda f: f.settings.incident_contact,
    ),
    Check(
        "review-contact",
        "Add a service review contact",
        "The monthly service report and the business reviews go to this contact.",
        SETTINGS_URL,
        "settings",
        True,
        lambda f: f.settings.service_review_contact,
    ),
    Check(
        "teams",
        "Communicate with the experts on Teams",
        "Incident notifications arrive as posts in the Managed response channel.",
        SETTINGS_URL,
        "settings",
        True,
        lambda f: f.settings.communicate_on_teams,
    ),
    Check(
        "respond",
        "Let the experts respond directly to active threats (recommended)",
        "With only Investigate, the experts guide you and you take every action yourself.",
        SETTINGS_URL,
        "settings",
        False,
        lambda f: f.settings.respond,
    ),
)

CONTROL_IDS: tuple[str, ...] = (
    TAMPER_PROTECTION,
    ANTIVIRUS,
    CLOUD_PROTECTION,
    ASR_LSASS,
    ASR_OFFICE_CHILD,
)
BY_ID = {c.id: c for c in CATALOGUE}
