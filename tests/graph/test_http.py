"""The Graph client: retries, Retry-After, paging, typed errors with the request-id."""

from __future__ import annotations

import aiohttp
import pytest

from bot.graph.clients import MicrosoftApis
from bot.graph.errors import (
    GraphCertificateError,
    GraphError,
    GraphForbidden,
    GraphNotFound,
    GraphThrottled,
    GraphUnavailable,
    error_from_response,
)
from bot.graph.http import ApiClient
from tests.standins.microsoft import FakeSleep, Microsoft

USERS = "/v1.0/users$"


async def test_paging_follows_next_links(microsoft: Microsoft, apis: MicrosoftApis) -> None:
    microsoft.graph.page_size = 2
    users = [u async for u in apis.graph.pages("users", params={"$select": "id,displayName"})]
    assert len(users) == len(microsoft.graph.users)
    assert microsoft.graph.count("GET", USERS) == 4
    assert set(users[0]) == {"id", "displayName"}


async def test_paging_stops_at_the_limit(microsoft: Microsoft, apis: MicrosoftApis) -> None:
    microsoft.graph.page_size = 2
    users = [u async for u in apis.graph.pages("users", limit=3)]
    assert len(users) == 3
    assert microsoft.graph.count("GET", USERS) == 2


async def test_a_next_link_to_another_host_is_refused(apis: MicrosoftApis) -> None:
    with pytest.raises(GraphError, match="another host"):
        apis.graph.url("https://attacker.example/v1.0/users?$skiptoken=x")


async def test_429_is_retried_after_retry_after(
    microsoft: Microsoft, apis: MicrosoftApis, sleep: FakeSleep
) -> None:
    microsoft.graph.fail("GET", USERS, 429, times=2, retry_after="7")
    body = await apis.graph.get("users")
    assert body["value"]
    assert sleep.waits == [7.0, 7.0]
    assert microsoft.graph.count("GET", USERS) == 3


@pytest.mark.parametrize(("header", "waited"), [("1800", 1800.0), ("7200", 3600.0)])
async def test_a_long_retry_after_is_honoured_up_to_an_hour(
    microsoft: Microsoft, apis: MicrosoftApis, sleep: FakeSleep, header: str, waited: float
) -> None:
    microsoft.graph.fail("GET", USERS, 429, retry_after=header)
    await apis.graph.get("users")
    assert sleep.waits == [waited]
    assert microsoft.graph.count("GET", USERS) == 2


@pytest.mark.parametrize("status", [503, 504])
async def test_503_and_504_are_retried_with_capped_backoff(
    microsoft: Microsoft, apis: MicrosoftApis, sleep: FakeSleep, status: int
) -> None:
    microsoft.graph.fail("GET", USERS, status, times=3)
    await apis.graph.get("users")
    assert sleep.waits == [0.5, 1.0, 2.0]  # base 1 s doubling, times the injected jitter 0.5


async def test_retries_are_bounded(
    microsoft: Microsoft, apis: MicrosoftApis, sleep: FakeSleep
) -> None:
    microsoft.graph.fail("GET", USERS, 429, times=100, retry_after="1")
    with pytest.raises(GraphThrottled) as info:
        await apis.graph.get("users")
    assert info.value.status == 429
    assert microsoft.graph.count("GET", USERS) == 5
    assert len(sleep.waits) == 4


@pytest.mark.parametrize("status", [400, 403, 404, 409, 500])
async def test_other_answers_are_not_retried(
    microsoft: Microsoft, apis: MicrosoftApis, sleep: FakeSleep, status: int
) -> None:
    microsoft.graph.fail("GET", USERS, status, code="SomeCode", message="nope")
    with pytest.raises(GraphError) as info:
        await apis.graph.get("users")
    assert info.value.status == status
    assert info.value.code == "SomeCode"
    assert sleep.waits == []
    assert microsoft.graph.count("GET", USERS) == 1


async def test_a_create_is_retried_after_429_but_not_after_503(
    microsoft: Microsoft, apis: MicrosoftApis
) -> None:
    path = "/v1.0/teams/x/channels$"
    microsoft.graph.fail("POST", path, 429, retry_after="2")
    microsoft.graph.fail("POST", path, 503)
    with pytest.raises(GraphUnavailable):
        await apis.graph.request("POST", "teams/x/channels", json={}, creates=True)
    assert microsoft.graph.count("POST", path) == 2


async def test_403_keeps_code_message_and_request_id(
    microsoft: Microsoft, apis: MicrosoftApis
) -> None:
    microsoft.graph.granted.discard("Team.Create")
    with pytest.raises(GraphForbidden) as info:
        await apis.graph.request("POST", "teams", json={}, creates=True)
    error = info.value
    assert error.code == "Forbidden"
    assert error.request_id
    assert error.request_id in str(error)
    assert "Team.Create" in error.permissions
    assert error.client_request_id


async def test_404_is_typed(apis: MicrosoftApis) -> None:
    with pytest.raises(GraphNotFound) as info:
        await apis.graph.get("users/00000000-0000-0000-0000-000000000000")
    assert info.value.code == "Request_ResourceNotFound"


async def test_a_refused_token_is_renewed_once(microsoft: Microsoft, apis: MicrosoftApis) -> None:
    await apis.graph.get("users")
    microsoft.graph.fail("GET", USERS, 401, code="InvalidAuthenticationToken", message="expired")
    await apis.graph.get("users")
    assert microsoft.login.token_requests() == 2
    microsoft.graph.fail("GET", USERS, 401, times=2, code="InvalidAuthenticationToken")
    with pytest.raises(GraphError) as info:
        await apis.graph.get("users")
    assert info.value.status == 401


async def test_connection_errors_are_retried(
    microsoft: Microsoft, apis: MicrosoftApis, http: aiohttp.ClientSession, sleep: FakeSleep
) -> None:
    closed = ApiClient(
        http,
        apis.tokens,
        "https://127.0.0.1:9/v1.0",
        apis.graph.scope,
        sleep=sleep,
        rand=lambda: 1.0,
    )
    with pytest.raises(GraphUnavailable, match="cannot connect"):
        await closed.get("users")
    assert sleep.waits == [1.0, 2.0, 4.0, 8.0]


async def test_an_untrusted_certificate_is_not_retried(
    microsoft: Microsoft, apis: MicrosoftApis, sleep: FakeSleep
) -> None:
    # A session without the stand-ins' test CA: the server's certificate isn't trusted.
    async with aiohttp.ClientSession() as untrusting:
        client = ApiClient(
            untrusting, apis.tokens, f"{microsoft.graph_url}/v1.0", apis.graph.scope, sleep=sleep
        )
        with pytest.raises(GraphCertificateError, match="SSL_CERT_FILE") as info:
            await client.get("users")
    assert not info.value.retryable
    assert sleep.waits == []
    assert microsoft.graph.count("GET", USERS) == 0


def test_error_bodies_are_mapped() -> None:
    body = {
        "error": {
            "code": "Forbidden",
            "message": "Missing role permissions on the request. API requires one of "
            "'Channel.Create, Teamwork.Migrate.All'. Roles on the request ''.",
            "innerError": {"request-id": "rid-inner", "client-request-id": "cid"},
        }
    }
    error = error_from_response(403, body, {}, service="graph", method="POST", path="/v1.0/x")
    assert isinstance(error, GraphForbidden)
    assert error.request_id == "rid-inner"
    assert error.permissions == ("Channel.Create", "Teamwork.Migrate.All")
    defender = error_from_response(
        403,
        {
            "error": {
                "code": "Forbidden",
                "message": "Missing application roles. API required "
                "roles: Machine.Read.All, Machine.ReadWrite.All. Application roles: .",
            }
        },
        {"request-id": "rid"},
        service="defender",
        method="GET",
        path="/api/machines",
    )
    assert defender.permissions == ("Machine.Read.All", "Machine.ReadWrite.All")
    odd = error_from_response(502, "<html>", {}, service="graph", method="GET", path="/")
    assert isinstance(odd, GraphUnavailable) and odd.message == "HTTP 502"
