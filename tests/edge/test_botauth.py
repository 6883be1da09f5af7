"""Bot Framework tokens against the OpenID stand-in: real RS256 tokens, real https metadata."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import open_storage
from bot.config import Settings
from bot.transport.botauth import BotTokenVerifier, cache_seconds
from bot.transport.web import AUTH, create_app
from tests.standins.connector import ConnectorStandIn
from tests.standins.openid import OpenIdStandIn, new_key, tamper
from tests.standins.tls import StandInCA
from tests.support import texts
from tests.transport.test_endpoint import activity

APP_ID = "9e7b2c41-3f6d-4a8e-b5c2-1d0f7a6e8b93"
PASSWORD = "stand-in-app-password"

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def invoke(service_url: str) -> dict[str, Any]:
    return activity(
        service_url,
        type="invoke",
        name="adaptiveCard/action",
        text=None,
        value={"action": {"type": "Action.Execute", "verb": "setup.start", "data": {}}},
    )


@pytest.fixture
async def connector_url(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> str:
    server = await aiohttp_server(ConnectorStandIn().app(), host="127.0.0.1")
    return str(server.make_url("/")).rstrip("/") + "/"


def token_settings(openid: OpenIdStandIn, ca: StandInCA, tmp: Path, **extra: str) -> Settings:
    return Settings.from_env(
        {
            "MicrosoftAppId": APP_ID,
            "MicrosoftAppPassword": PASSWORD,
            "BOT_OPENID_METADATA": openid.metadata_url,
            "SSL_CERT_FILE": str(ca.ca_file),
            "BOT_DATA_DIR": str(tmp),
            **extra,
        }
    )


@pytest.fixture
async def bot(
    aiohttp_client: ClientFactory, openid: OpenIdStandIn, standin_ca: StandInCA, tmp_path: Path
) -> TestClient[Any, Any]:
    app = create_app(
        token_settings(openid, standin_ca, tmp_path), storage=open_storage("memory://")
    )
    client = await aiohttp_client(app)
    verifier = app[AUTH].verifier
    assert verifier is not None
    verifier.clock = Clock()
    return client


def verifier_of(bot: TestClient[Any, Any]) -> BotTokenVerifier:
    verifier = bot.app[AUTH].verifier
    assert verifier is not None
    return verifier


async def post(bot: TestClient[Any, Any], body: dict[str, Any], token: str | None) -> Any:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return await bot.post("/api/messages", json=body, headers=headers)


async def test_a_valid_token_is_accepted_end_to_end(
    bot: TestClient[Any, Any], openid: OpenIdStandIn, connector_url: str
) -> None:
    token = openid.mint(openid.claims(APP_ID, connector_url))
    response = await post(bot, invoke(connector_url), token)
    assert response.status == 200
    assert "Grant permissions" in texts((await response.json())["value"])
    again = await post(bot, invoke(connector_url), token)
    assert again.status == 200
    assert (openid.metadata_requests, openid.jwks_requests) == (1, 1)  # cached


FORGERIES: dict[str, Callable[[OpenIdStandIn, str], str]] = {
    "wrong audience": lambda o, url: o.mint(o.claims("another-app", url)),
    "wrong issuer": lambda o, url: o.mint(o.claims(APP_ID, url, iss="https://sts.example/")),
    "expired": lambda o, url: o.mint(
        o.claims(APP_ID, url, exp=int(time.time()) - 3600, nbf=int(time.time()) - 7200)
    ),
    "not yet valid": lambda o, url: o.mint(o.claims(APP_ID, url, nbf=int(time.time()) + 3600)),
    "no expiry": lambda o, url: o.mint(o.claims(APP_ID, url, exp=None)),
    "unknown kid": lambda o, url: o.mint(
        o.claims(APP_ID, url), key=new_key(), headers={"kid": "not-published"}
    ),
    "alg none": lambda o, url: o.mint(
        o.claims(APP_ID, url), algorithm="none", headers={"kid": o.current.kid}
    ),
    "HS256 with the app password": lambda o, url: o.mint(
        o.claims(APP_ID, url),
        key=PASSWORD.encode() * 2,
        algorithm="HS256",
        headers={"kid": o.current.kid},
    ),
    "RS256 with another key": lambda o, url: o.mint(
        o.claims(APP_ID, url), key=new_key(), headers={"kid": o.current.kid}
    ),
    "tampered payload": lambda o, url: tamper(o.mint(o.claims("another-app", url)), aud=APP_ID),
    "serviceUrl mismatch": lambda o, url: o.mint(o.claims(APP_ID, "https://smba.evil.example/")),
    "no serviceUrl claim": lambda o, url: o.mint(o.claims(APP_ID, url, serviceurl=None)),
    "garbage": lambda o, url: "garbage",
    "three-part garbage": lambda o, url: "e30.e30.c2ln",
    "empty": lambda o, url: "",
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
async def test_forged_tokens_get_401_with_no_detail(
    bot: TestClient[Any, Any],
    openid: OpenIdStandIn,
    connector_url: str,
    forgery: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = FORGERIES[forgery](openid, connector_url)
    with caplog.at_level(logging.WARNING, logger="bot.transport.botauth"):
        response = await post(bot, invoke(connector_url), token)
    assert response.status == 401
    body = await response.text()
    assert "token" not in body.lower() and len(body) < 40
    refusals = [r for r in caplog.records if "token refused" in r.getMessage()]
    assert len(refusals) == 1 and len(refusals[0].getMessage()) < 120


async def test_a_key_not_endorsed_for_teams_is_refused(
    bot: TestClient[Any, Any], openid: OpenIdStandIn, connector_url: str
) -> None:
    skype_only = openid.rotate(endorsements=["skype"])
    token = openid.mint(openid.claims(APP_ID, connector_url), key=skype_only)
    assert (await post(bot, invoke(connector_url), token)).status == 401


async def test_another_channel_is_refused(
    bot: TestClient[Any, Any], openid: OpenIdStandIn, connector_url: str
) -> None:
    openid.rotate(endorsements=["msteams", "webchat"])
    token = openid.mint(openid.claims(APP_ID, connector_url))
    body = {**invoke(connector_url), "channelId": "webchat"}
    assert (await post(bot, body, token)).status == 401


async def test_no_header_is_401_and_fetches_nothing(
    bot: TestClient[Any, Any], openid: OpenIdStandIn, connector_url: str
) -> None:
    assert (await post(bot, invoke(connector_url), None)).status == 401
    assert (await post(bot, invoke(connector_url), "garbage")).status == 401
    assert openid.calls == []


async def test_unknown_kids_refresh_the_keys_at_most_once_a_minute(
    bot: TestClient[Any, Any], openid: OpenIdStandIn, connector_url: str
) -> None:
    valid = openid.mint(openid.claims(APP_ID, connector_url))
    assert (await post(bot, invoke(connector_url), valid)).status == 200
    stranger = FORGERIES["unknown kid"](openid, connector_url)
    clock = verifier_of(bot).clock
    assert isinstance(clock, Clock)
    clock.now += 61
    for _ in range(5):
        assert (await post(bot, invoke(connector_url), stranger)).status == 401
    assert openid.jwks_requests == 2  # the first load, and one refresh for all five
    # A rotation is picked up by the next refresh: a new kid, a minute later.
    openid.rotate()
    rotated = openid.mint(openid.claims(APP_ID, connector_url))
    assert (await post(bot, invoke(connector_url), rotated)).status == 401
    clock.now += 61
    assert (await post(bot, invoke(connector_url), rotated)).status == 200
    assert openid.jwks_requests == 3


async def test_stale_keys_keep_working_while_the_refresh_fails(
    bot: TestClient[Any, Any], openid: OpenIdStandIn, connector_url: str
) -> None:
    token = openid.mint(openid.claims(APP_ID, connector_url))
    assert (await post(bot, invoke(connector_url), token)).status == 200
    verifier = verifier_of(bot)
    clock = verifier.clock
    assert isinstance(clock, Clock)
    clock.now += 86_400 + 1  # past the stand-in's max-age
    openid.fail("GET", r"configuration$", 503, times=10)
    assert (await post(bot, invoke(connector_url), token)).status == 200
    await verifier.idle()
    assert openid.metadata_requests == 2  # the refresh ran in the background and failed
    assert (await post(bot, invoke(connector_url), token)).status == 200


async def test_a_hanging_metadata_host_gets_503_and_healthz_answers_meanwhile(
    aiohttp_client: ClientFactory,
    openid: OpenIdStandIn,
    standin_ca: StandInCA,
    tmp_path: Path,
    connector_url: str,
) -> None:
    settings = token_settings(openid, standin_ca, tmp_path, BOT_OPENID_TIMEOUT="1")
    bot = await aiohttp_client(create_app(settings, storage=open_storage("memory://")))
    openid.hang()
    token = openid.mint(openid.claims(APP_ID, connector_url))
    pending = asyncio.ensure_future(post(bot, invoke(connector_url), token))
    while openid.metadata_requests == 0:  # the fetch is under way, and hangs
        await asyncio.sleep(0)
    health = await bot.get("/healthz")
    assert health.status == 200
    assert not pending.done()
    response = await pending
    assert response.status == 503
    assert response.headers["Retry-After"]
    # Within the back-off, more requests are answered at once, without another fetch.
    assert (await post(bot, invoke(connector_url), token)).status == 503
    assert openid.metadata_requests == 1


def test_cache_control_bounds() -> None:
    assert cache_seconds("public, max-age=3600") == 3600
    assert cache_seconds("public, max-age=3600", "max-age=600") == 600
    assert cache_seconds(None) == 86_400
    assert cache_seconds("no-cache") == 60
    assert cache_seconds("max-age=1") == 60
    assert cache_seconds("max-age=99999999") == 5 * 86_400
