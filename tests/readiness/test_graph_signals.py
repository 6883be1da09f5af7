"""Scenario: the Graph/Defender signals adapter against the stand-ins (paging, 403, 429, 5xx),
and the readiness service on top of it."""

from __future__ import annotations

import pytest

from bot.graph.clients import MicrosoftApis
from bot.graph.signals import GraphReadinessSignals
from bot.readiness.catalogue import CLOUD_PROTECTION, CONTROL_IDS, TAMPER_PROTECTION
from bot.readiness.ports import SignalError
from bot.storage.memory import MemoryStore
from tests.readiness.support import Choices, Events, FakeClock, Inbox, is_admin
from tests.standins.microsoft import FakeSleep, Microsoft
from tests.standins.security import SecurityGraphStandIn, add_machines, sku


def graph_of(tenant: Microsoft) -> SecurityGraphStandIn:
    assert isinstance(tenant.graph, SecurityGraphStandIn)
    return tenant.graph


@pytest.fixture
def signals(tenant: Microsoft, microsoft_apis: MicrosoftApis) -> GraphReadinessSignals:
    graph = graph_of(tenant)
    graph.page_size = 2
    graph.skus = [
        sku("SPE_E5", ("WINDEFATP", "ATA", "EXCHANGE_S_ENTERPRISE"), 40),
        sku("WIN_DEF_ATP", ("WINDEFATP",), 15),
        sku("ATP_ENTERPRISE", ("ATP_ENTERPRISE",), 40),
        sku("MDE_SMB", ("mde_smb",), 5),
    ]
    graph.secure_scores = [
        {
            "id": "newest",
            "controlScores": [
                {"controlName": TAMPER_PROTECTION, "score": 10.0},
                {"controlName": CLOUD_PROTECTION, "score": 3.0},
            ],
        },
        {"id": "older", "controlScores": [{"controlName": CLOUD_PROTECTION, "score": 8.0}]},
    ]
    graph.control_profiles = [
        {"id": TAMPER_PROTECTION, "maxScore": 10.0},
        {"id": CLOUD_PROTECTION, "maxScore": 8.0},
        {"id": "scid_2010", "maxScore": 10.0},
    ]
    graph.sensors = [
        {
            "id": f"s{n}",
            "domainName": "corp.contoso.com",
            "sensorType": "domainControllerIntegrated",
            "deploymentStatus": "upToDate",
            "healthStatus": "healthy",
        }
        for n in range(3)
    ]
    graph.add_synced_users("corp.contoso.com", enabled=5, disabled=1)
    graph.add_synced_users("emea.contoso.com", enabled=4)
    add_machines(tenant.defender, 7, onboarding="Onboarded", health="Active", prefix="ok")
    add_machines(tenant.defender, 2, onboarding="onboarded", health="inactive", prefix="off")
    add_machines(tenant.defender, 3, onboarding="CanBeOnboarded", health="Inactive", prefix="new")
    return GraphReadinessSignals(
        microsoft_apis.graph, microsoft_apis.defender, machines_page_size=5
    )


async def test_every_signal_is_read_across_pages(
    tenant: Microsoft, signals: GraphReadinessSignals
) -> None:
    licences = await signals.licences()
    assert (licences.endpoint, licences.identity) == (60, 40)
    devices = await signals.devices()
    assert (devices.reporting, devices.not_reporting, devices.can_be_onboarded) == (7, 2, 3)
    identities = await signals.identities()
    assert identities.covered == 5 and identities.sensors == 3
    controls = await signals.controls(CONTROL_IDS)
    assert controls.states[TAMPER_PROTECTION] == "on"
    assert controls.states[CLOUD_PROTECTION] == "off"  # the newest score, not the older one
    assert controls.states["scid_2010"] == "missing"
    assert tenant.graph.count("GET", "subscribedSkus") == 2  # two pages
    assert tenant.graph.count("GET", "/beta/security/identities/sensors") == 2
    assert tenant.defender.count("GET", "/api/machines") == 3  # 12 machines, 5 a page


@pytest.mark.parametrize(
    ("read", "path", "permission"),
    [
        ("licences", "subscribedSkus", "Organization.Read.All"),
        ("controls", "secureScores", "SecurityEvents.Read.All"),
        ("identities", "sensors", "SecurityIdentitiesSensors.Read.All"),
    ],
)
async def test_a_403_names_the_missing_permission(
    tenant: Microsoft, signals: GraphReadinessSignals, read: str, path: str, permission: str
) -> None:
    tenant.graph.granted -= {
        "Organization.Read.All",
        "SecurityEvents.Read.All",
        "SecurityIdentitiesSensors.Read.All",
    }
    with pytest.raises(SignalError) as failure:
        if read == "controls":
            await signals.controls(CONTROL_IDS)
        else:
            await getattr(signals, read)()
    assert failure.value.reason == "forbidden"
    assert permission in failure.value.permission
    assert permission in failure.value.describe()


async def test_defender_403_names_machine_read_all(
    tenant: Microsoft, signals: GraphReadinessSignals
) -> None:
    tenant.defender.granted = set()
    with pytest.raises(SignalError) as failure:
        await signals.devices()
    assert failure.value.reason == "forbidden"
    assert "Machine.Read.All" in failure.value.permission


async def test_429_is_retried_after_retry_after_then_reported_as_throttled(
    tenant: Microsoft, signals: GraphReadinessSignals, fake_sleep: FakeSleep
) -> None:
    tenant.graph.fail("GET", "secureScoreControlProfiles", 429, retry_after="7")
    assert (await signals.controls(CONTROL_IDS)).states[TAMPER_PROTECTION] == "on"
    assert fake_sleep.waits[:1] == [7.0]
    tenant.graph.fail("GET", "subscribedSkus", 429, times=10, retry_after="1")
    with pytest.raises(SignalError) as failure:
        await signals.licences()
    assert failure.value.reason == "throttled"
    tenant.defender.fail("GET", "/api/machines", 503, times=10)
    with pytest.raises(SignalError) as outage:
        await signals.devices()
    assert outage.value.reason == "unavailable"


async def test_the_assessment_from_graph_keeps_stale_values_with_the_reason(
    tenant: Microsoft, signals: GraphReadinessSignals
) -> None:
    from bot.readiness.service import ReadinessService

    service = ReadinessService(
        MemoryStore(),
        signals,
        Choices(),
        is_admin,
        tenant_id="4f1c3a2e-7d5b-4e8a-9c21-6b0d8e3f5a17",
        admins=Inbox(),
        events=Events(),
        clock=FakeClock(),
    )
    first, _ = await service.assess("first")
    assert first.figures["devices"] == [7, 60]
    tenant.defender.granted = set()
    second, _ = await service.assess("schedule")
    record = second.signals["devices"]
    assert record.stale and record.value == first.signals["devices"].value
    assert "Machine.Read.All" in record.reason
