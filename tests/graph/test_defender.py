"""The Defender for Endpoint API through its stand-in: rate limits (100 calls a minute, 1,500 an
hour) and the bot's pacing within them; the token audience that differs from the API's host."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from bot.graph.clients import DEFENDER_RESOURCE, MicrosoftApis, build_apis
from bot.graph.directory import GraphTenantDirectory
from bot.graph.errors import GraphAuthError
from bot.graph.http import ApiClient
from bot.graph.pacing import DEFENDER_LIMITS, CallPacer
from tests.standins.microsoft import Microsoft

API_HOST = "api.security.microsoft.com"


class Clock:
    """Monotonic time that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def within_limits(times: list[float]) -> bool:
    """No window of DEFENDER_LIMITS holds more calls than it allows."""
    for span, count in DEFENDER_LIMITS:
        for i in range(len(times) - count):
            if times[i + count] - times[i] < span:
                return False
    return True


async def test_the_pacer_spreads_calls_over_both_windows() -> None:
    clock = Clock()
    pacer = CallPacer(DEFENDER_LIMITS, clock=clock, sleep=clock.sleep)
    taken = []
    for _ in range(1600):
        await pacer.acquire()
        taken.append(clock.now)
    assert within_limits(taken)
    assert taken[99] == taken[0] and taken[100] == taken[0] + 60  # a minute's 100, then wait
    assert taken[1500] == taken[0] + 3600  # the hour's 1,500, then wait for the first to leave
    assert pacer.waited == clock.now - 1000.0


def test_a_pacer_needs_real_limits() -> None:
    with pytest.raises(ValueError):
        CallPacer(((60.0, 0),))


@pytest.fixture
def clock(microsoft: Microsoft) -> Clock:
    clock = Clock()
    microsoft.defender.clock = clock
    return clock


@pytest.fixture
def paced(
    microsoft: Microsoft, http: aiohttp.ClientSession, clock: Clock
) -> Iterator[MicrosoftApis]:
    apis = build_apis(microsoft.settings(), http, sleep=clock.sleep, clock=clock, rand=lambda: 0.5)
    yield apis
    apis.close()


async def test_the_standin_refuses_the_101st_call_of_a_minute(
    microsoft: Microsoft, http: aiohttp.ClientSession, paced: MicrosoftApis, clock: Clock
) -> None:
    unpaced = ApiClient(
        http,
        paced.tokens,
        microsoft.defender_url,
        paced.defender.scope,
        service="defender",
        sleep=clock.sleep,
        rand=lambda: 0.5,
    )
    for _ in range(101):
        await unpaced.get("api/machines/d-042")
    assert microsoft.defender.throttled == 1  # the 101st: 429, then retried after Retry-After
    refused = [c for c in microsoft.defender.calls if c.status == 429]
    assert len(refused) == 1
    assert clock.slept == [60.0]
    assert len(microsoft.defender.served) == 101


async def test_the_bot_paces_itself_within_both_limits(
    microsoft: Microsoft, paced: MicrosoftApis, clock: Clock
) -> None:
    for _ in range(1600):
        await paced.defender.get("api/machines/d-042")
    assert microsoft.defender.throttled == 0
    served = microsoft.defender.served
    assert len(served) == 1600 and within_limits(served)
    assert served[-1] - served[0] >= 3600  # the hour's limit was reached, and waited out


async def test_device_group_reads_are_paced_too(
    microsoft: Microsoft, paced: MicrosoftApis, clock: Clock
) -> None:
    directory = GraphTenantDirectory(
        paced.graph, paced.defender, tenant_id="t", inventory_ttl=0.0, clock=clock
    )
    for _ in range(150):
        assert await directory.is_high_value_device("d-unknown") is False
    assert microsoft.defender.throttled == 0
    assert within_limits(microsoft.defender.served)


class Loopback(AbstractResolver):
    """Resolves the Defender API's real host name to the stand-in on 127.0.0.1, and nothing
    else, so the test never looks a name up."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host not in (API_HOST, "localhost"):
            raise OSError(f"the tests resolve only {API_HOST}, not {host}")
        return [
            {
                "hostname": host,
                "host": "127.0.0.1",
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        return None


@pytest.fixture
async def api_host_session(microsoft: Microsoft) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(ssl=microsoft.ca.client_context(), resolver=Loopback())
    session = aiohttp.ClientSession(connector=connector)
    yield session
    await session.close()


def on_api_host(microsoft: Microsoft) -> dict[str, Any]:
    port = urlsplit(microsoft.defender_url).port
    return {"SECURITY_API_ENDPOINT": f"https://{API_HOST}:{port}"}


async def test_a_token_for_securitycenter_is_accepted_on_the_security_host(
    microsoft: Microsoft, api_host_session: aiohttp.ClientSession
) -> None:
    """The API lives on api.security.microsoft.com, and takes tokens for the resource
    https://api.securitycenter.microsoft.com: the bot asks for that audience."""
    microsoft.defender.audience = DEFENDER_RESOURCE
    apis = build_apis(microsoft.settings(**on_api_host(microsoft)), api_host_session)
    try:
        page = await apis.defender.get("api/machines/d-042")
    finally:
        apis.close()
    assert page["id"] == "d-042"
    (call,) = microsoft.defender.calls
    token = call.headers["authorization"].removeprefix("Bearer ")
    assert microsoft.login.audience_of(token) == DEFENDER_RESOURCE


async def test_a_token_for_the_host_itself_is_refused(
    microsoft: Microsoft, api_host_session: aiohttp.ClientSession
) -> None:
    """The stand-in is strict: a token whose audience is the API's host name is refused, as
    the real API refuses it."""
    microsoft.defender.audience = DEFENDER_RESOURCE
    apis = build_apis(microsoft.settings(**on_api_host(microsoft)), api_host_session)
    host_client = ApiClient(
        api_host_session,
        apis.tokens,
        apis.defender.base_url,
        f"https://{API_HOST}/.default",
        service="defender",
    )
    try:
        with pytest.raises(GraphAuthError) as refused:
            await host_client.get("api/machines/d-042")
    finally:
        apis.close()
    assert refused.value.status == 401
