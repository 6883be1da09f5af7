"""A Microsoft tenant in the stand-ins with the readiness signals (licences, machines, sensors,
Secure Score)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from bot.graph.clients import MicrosoftApis, build_apis
from bot.graph.http import create_http_session
from tests.standins.defender import DefenderStandIn
from tests.standins.login import LoginStandIn
from tests.standins.microsoft import (
    CLIENT_ID,
    SECRET,
    TENANT,
    FakeSleep,
    Microsoft,
    ServerFactory,
    standin_ca,
)
from tests.standins.security import READINESS_GRANTED, SecurityGraphStandIn
from tests.standins.tls import StandInCA

__all__ = ["standin_ca"]


@pytest.fixture
async def tenant(aiohttp_server: ServerFactory, standin_ca: StandInCA) -> Microsoft:
    login = LoginStandIn(tenant_id=TENANT, client_id=CLIENT_ID, client_secret=SECRET)
    graph = SecurityGraphStandIn(login=login, tenant_id=TENANT)
    graph.granted |= READINESS_GRANTED
    defender = DefenderStandIn(login=login)
    servers = [
        await aiohttp_server(s.app(), host="127.0.0.1", ssl=standin_ca.server_context)
        for s in (login, graph, defender)
    ]
    urls = [str(s.make_url("")).rstrip("/") for s in servers]
    return Microsoft(standin_ca, login, graph, defender, *urls)


@pytest.fixture
async def session(tenant: Microsoft) -> AsyncIterator[aiohttp.ClientSession]:
    http = create_http_session(tenant.settings())
    yield http
    await http.close()


@pytest.fixture
def fake_sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
def microsoft_apis(
    tenant: Microsoft, session: aiohttp.ClientSession, fake_sleep: FakeSleep
) -> Iterator[MicrosoftApis]:
    built = build_apis(tenant.settings(), session, sleep=fake_sleep, rand=lambda: 0.5)
    yield built
    built.close()
