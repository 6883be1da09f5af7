"""How licences, devices, identities and Secure Score controls are counted."""

from __future__ import annotations

from typing import Any

import pytest

from bot.readiness import rules
from bot.readiness.ports import Licences


def sku(plans: list[str], enabled: int, status: str = "Enabled") -> dict[str, Any]:
    return {
        "capabilityStatus": status,
        "prepaidUnits": {"enabled": enabled},
        "servicePlans": [{"servicePlanName": p, "provisioningStatus": "Success"} for p in plans],
    }


def test_licences_add_the_seats_of_every_subscription_with_the_plan() -> None:
    skus = [
        sku(["WINDEFATP", "ATA", "EXCHANGE_S_ENTERPRISE"], 40),
        sku(["MDE_LITE"], 10),
        sku(["ATP_ENTERPRISE"], 99),  # Defender for Office 365: neither
        sku(["WINDEFATP"], 500, status="Suspended"),
    ]
    assert rules.licences(skus) == Licences(endpoint=50, identity=40)


def test_licences_compare_plan_names_case_insensitively_and_skip_disabled_plans() -> None:
    disabled = sku(["ATA"], 5)
    disabled["servicePlans"][0]["provisioningStatus"] = "Disabled"
    assert rules.licences([sku(["windefatp"], 3), disabled]) == Licences(3, 0)


def test_devices_count_onboarded_and_reporting_case_insensitively() -> None:
    machines = [
        {"onboardingStatus": "Onboarded", "healthStatus": "Active"},
        {"onboardingStatus": "onboarded", "healthStatus": "ACTIVE"},
        {"onboardingStatus": "Onboarded", "healthStatus": "Inactive"},
        {"onboardingStatus": "Onboarded", "healthStatus": "ImpairedCommunication"},
        {"onboardingStatus": "CanBeOnboarded", "healthStatus": "Inactive"},
        {"onboardingStatus": "Unsupported", "healthStatus": "Inactive"},
        {},
    ]
    result = rules.devices(machines)
    assert (result.reporting, result.not_reporting, result.can_be_onboarded) == (2, 2, 1)


def test_identities_are_enabled_synced_accounts_of_domains_with_a_reporting_dc_sensor() -> None:
    sensors = [
        {
            "sensorType": "domainControllerIntegrated",
            "domainName": "Corp.Contoso.com",
            "deploymentStatus": "upToDate",
            "healthStatus": "healthy",
        },
        {
            "sensorType": "domainControllerStandalone",
            "domainName": "emea.contoso.com",
            "deploymentStatus": "disconnected",
            "healthStatus": "notHealthyHigh",
        },
        {
            "sensorType": "adfsIntegrated",
            "domainName": "lab.contoso.com",
            "healthStatus": "healthy",
        },
    ]
    users = [
        {"accountEnabled": True, "onPremisesDomainName": "corp.contoso.com"},
        {"accountEnabled": True, "onPremisesDomainName": "CORP.CONTOSO.COM"},
        {"accountEnabled": False, "onPremisesDomainName": "corp.contoso.com"},
        {"accountEnabled": True, "onPremisesDomainName": "emea.contoso.com"},
        {"accountEnabled": True, "onPremisesDomainName": "lab.contoso.com"},
        {"accountEnabled": True, "onPremisesDomainName": None},
    ]
    result = rules.identities(sensors, users)
    assert result.covered == 2
    assert result.sensors == 2
    assert result.sensors_unhealthy == 1
    assert result.domains == ("corp.contoso.com",)


PROFILES = [
    {"id": "scid_2003", "maxScore": 10.0},
    {"id": "scid_2016", "maxScore": 8.0},
    {"id": "scid_2509", "maxScore": 9.0, "deprecated": True},
    {"id": "scid_2010", "maxScore": 0},
]


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([{"controlName": "scid_2003", "score": 10.0}], "on"),
        ([{"controlName": "SCID_2003", "score": 12.0}], "on"),
        ([{"controlName": "scid_2003", "score": 9.9}], "off"),
        ([{"controlName": "scid_2003", "score": 0}], "off"),
        ([], "missing"),
    ],
)
def test_a_control_is_on_only_at_its_full_score(
    scores: list[dict[str, Any]], expected: str
) -> None:
    result = rules.controls({"controlScores": scores}, PROFILES, ["scid_2003"])
    assert result.states == {"scid_2003": expected}


def test_a_control_without_a_usable_profile_is_missing() -> None:
    score = {
        "controlScores": [
            {"controlName": "scid_2509", "score": 9.0},
            {"controlName": "scid_2010", "score": 5.0},
            {"controlName": "scid_9999", "score": 1.0},
        ]
    }
    result = rules.controls(score, PROFILES, ["scid_2509", "scid_2010", "scid_9999"])
    assert set(result.states.values()) == {"missing"}
    assert rules.controls(None, PROFILES, ["scid_2003"]).states == {"scid_2003": "missing"}
