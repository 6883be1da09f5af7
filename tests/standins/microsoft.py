"""The Microsoft stand-ins together (login, Graph, Defender over https with a test CA), a small
Contoso tenant in them, and pytest fixtures. Import the fixtures into a ``conftest.py``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bot.config import Settings
from bot.graph.clients import MicrosoftApis, build_apis
from bot.graph.http import create_http_session
from tests.standins.defender import DefenderStandIn
from tests.standins.graph import GraphStandIn
from tests.standins.login import LoginStandIn
from tests.standins.tls import StandInCA, make_ca

TENANT = "4f1c3a2e-7d5b-4e8a-9c21-6b0d8e3f5a17"
CLIENT_ID = "9e7b2c41-3f6d-4a8e-b5c2-1d0f7a6e8b93"
SECRET = "stand-in-secret-value"
CATALOG_APP = "5d1c8a20-0b7e-4c36-9b61-3e9f2a7c4d11"
SENDER = "defender-experts@contoso.com"
SENDER_ID = "1a2b3c4d-0010-4e5f-8a9b-0c1d2e3f4a10"

GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"
SECURITY_ADMIN = "194ae4cb-b126-40b2-bd5b-6091b380977d"
HELPDESK_ADMIN = "729827e3-9c14-49f7-bb1b-9608f156bbb8"

ALEX = "1a2b3c4d-0001-4e5f-8a9b-0c1d2e3f4a01"  # Global Administrator
MEGAN = "1a2b3c4d-0002-4e5f-8a9b-0c1d2e3f4a02"  # Security Administrator, through a group
ADELE = "1a2b3c4d-0003-4e5f-8a9b-0c1d2e3f4a03"  # Helpdesk Administrator only
PATTI = "1a2b3c4d-0005-4e5f-8a9b-0c1d2e3f4a05"  # high-value (CFO)
ISAIAH = "1a2b3c4d-0004-4e5f-8a9b-0c1d2e3f4a04"
ROOM = "1a2b3c4d-0009-4e5f-8a9b-0c1d2e3f4a09"
FINANCE = "8d2f1c0b-2001-4d4e-8f9a-3b2c1d0e9f01"
EXECUTIVES = "8d2f1c0b-2002-4d4e-8f9a-3b2c1d0e9f02"
HIGH_VALUE = "8d2f1c0b-2009-4d4e-8f9a-3b2c1d0e9f09"
SECOPS = "6c1e0b7a-1001-4c3d-9e8f-2a1b0c9d8e01"
SECURITY_ADMINS = "8d2f1c0b-2010-4d4e-8f9a-3b2c1d0e9f10"  # role-assignable


class FakeSleep:
    """Records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def populate(graph: GraphStandIn, defender: DefenderStandIn) -> None:
    graph.add_user(ALEX, "Alex Wilber", "alexw@contoso.com", roles=(GLOBAL_ADMIN,))
    graph.add_user(MEGAN, "Megan Bowen", "meganb@contoso.com")
    graph.add_user(ADELE, "Adele Vance", "adelev@contoso.com", roles=(HELPDESK_ADMIN,))
    graph.add_user(ISAIAH, "Isaiah Langer", "isaiahl@contoso.com")
    graph.add_user(PATTI, "Patti Fernandez", "pattif@contoso.com")
    graph.add_user(ROOM, "Room 1", "")  # no mailbox: never a contact
    graph.add_user(SENDER_ID, "Defender Experts", SENDER)
    # Megan holds Security Administrator through a role-assignable group, not directly.
    graph.add_group(SECURITY_ADMINS, "Security admins", members=(MEGAN,), role_assignable=True)
    graph.assign_role(SECURITY_ADMINS, SECURITY_ADMIN)
    graph.add_group(FINANCE, "Finance team", members=(ISAIAH, PATTI))
    graph.add_group(EXECUTIVES, "Executives", members=(PATTI,))
    graph.add_group(HIGH_VALUE, "High-value users", members=(EXECUTIVES, ALEX))
    graph.add_group(SECOPS, "Security Operations", mail="secops@contoso.com", security=False)
    for n in range(3, 8):
        graph.add_group(f"8d2f1c0b-20{n:02d}-4d4e-8f9a-3b2c1d0e9f{n:02d}", f"Finance region {n}")
    graph.add_catalog_app(CATALOG_APP)
    graph.skus.append(
        {
            "skuPartNumber": "Microsoft_365_E5",
            "prepaidUnits": {"enabled": 50},
            "consumedUnits": 42,
            "servicePlans": [{"servicePlanName": "WINDEFATP"}, {"servicePlanName": "ATA"}],
        }
    )
    defender.add_machine("d-042", "fin-ws-042.contoso.com", 101, "Finance workstations")
    defender.add_machine("d-043", "fin-ws-043.contoso.com", 101, "Finance workstations")
    defender.add_machine("d-dc1", "dc01.contoso.com", 102, "Domain controllers", "High")
    defender.add_machine("d-ex1", "cfo-laptop.contoso.com", 103, "Executive laptops", "High")
    defender.add_machine("d-sql", "sql-prod-01.contoso.com", 104, "Production servers")
    defender.add_machine("d-dev", "dev-ws-007.contoso.com", 105, "Developer workstations", "Low")


@dataclass
class Microsoft:
    """The running stand-ins and the settings that point the bot at them."""

    ca: StandInCA
    login: LoginStandIn
    graph: GraphStandIn
    defender: DefenderStandIn
    login_url: str
    graph_url: str
    defender_url: str
    extra: dict[str, str] = field(default_factory=dict)

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "TENANT_BACKEND": "graph",
            "GRAPH_TENANT_ID": TENANT,
            "GRAPH_CLIENT_ID": CLIENT_ID,
            "GRAPH_CLIENT_SECRET": SECRET,
            "GRAPH_ENDPOINT": self.graph_url,
            "AUTHORITY_HOST": self.login_url,
            "SECURITY_API_ENDPOINT": self.defender_url,
            "SSL_CERT_FILE": str(self.ca.ca_file),
            "TEAMS_APP_CATALOG_ID": CATALOG_APP,
            "MAIL_SENDER": SENDER,
            "HIGH_VALUE_USERS_GROUP_ID": HIGH_VALUE,
            "TEAMS_OPERATION_POLL_SECONDS": "0",
            **self.extra,
            **extra,
        }

    def settings(self, **extra: str) -> Settings:
        return Settings.from_env(self.env(**extra))

    def graph_calls(self) -> int:
        return len(self.graph.calls)


ServerFactory = Callable[..., Awaitable[TestServer]]


@pytest.fixture
def standin_ca(tmp_path: Path) -> StandInCA:
    return make_ca(tmp_path)


@pytest.fixture
async def microsoft(aiohttp_server: ServerFactory, standin_ca: StandInCA) -> Microsoft:
    login = LoginStandIn(tenant_id=TENANT, client_id=CLIENT_ID, client_secret=SECRET)
    graph = GraphStandIn(login=login, tenant_id=TENANT)
    defender = DefenderStandIn(login=login)
    populate(graph, defender)
    servers = [
        await aiohttp_server(s.app(), host="127.0.0.1", ssl=standin_ca.server_context)
        for s in (login, graph, defender)
    ]
    urls = [str(s.make_url("")).rstrip("/") for s in servers]
    return Microsoft(standin_ca, login, graph, defender, *urls)


@pytest.fixture
async def http(microsoft: Microsoft) -> AsyncIterator[aiohttp.ClientSession]:
    session = create_http_session(microsoft.settings())
    yield session
    await session.close()


@pytest.fixture
def sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
def apis(
    microsoft: Microsoft, http: aiohttp.ClientSession, sleep: FakeSleep
) -> Iterator[MicrosoftApis]:
    built = build_apis(microsoft.settings(), http, sleep=sleep, rand=lambda: 0.5)
    yield built
    built.close()


def ids(items: list[Any]) -> list[str]:
    return [getattr(i, "id", i) for i in items]
