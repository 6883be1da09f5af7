"""Sign-in to the expert console: the whole authorization code flow (PKCE) through the real
console code, msal and an OpenID Connect stand-in (https, discovery, JWKS, RS256 id tokens)."""

from __future__ import annotations

import html
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import open_storage
from bot.config import Settings
from bot.transport.web import create_app
from tests.e2e.harness import free_port
from tests.standins.openid import OpenIdStandIn, ServerFactory
from tests.standins.tls import StandInCA

PROVIDER_TENANT = "72f988bf-0000-4a6f-9c0e-7d1b2a3c4e99"
EXPERTS_GROUP = "0e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a55"
EXPERT = {
    "sub": "pairwise-sub-1",
    "oid": "3f5b8c2a-1111-4d6e-9f0a-1b2c3d4e5f60",
    "tid": PROVIDER_TENANT,
    "name": "Riley Chen",
    "preferred_username": "riley@mdr.example",
    "groups": [EXPERTS_GROUP],
}


def form_of(page: str) -> tuple[str, dict[str, str]]:
    """The action and hidden fields of the one form on a page."""
    action = re.search(r'<form method="post" action="([^"]+)"', page)
    assert action is not None, page
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page))
    return html.unescape(action.group(1)), {k: html.unescape(v) for k, v in fields.items()}


@dataclass
class Flow:
    client: TestClient[Any, Any]
    provider: OpenIdStandIn
    https: aiohttp.ClientSession

    async def sign_in(self) -> aiohttp.ClientResponse:
        """Start at the console, go through the provider, come back to the callback."""
        start = await self.client.get("/console/auth/login", allow_redirects=False)
        assert start.status == 303
        authorize = start.headers["Location"]
        query = parse_qs(urlsplit(authorize).query)
        assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
        assert query["nonce"][0] and query["state"][0]
        assert query["response_mode"] == ["form_post"]
        async with self.https.get(authorize, allow_redirects=False) as answer:
            assert answer.status == 200, await answer.text()
            action, fields = form_of(await answer.text())
        # Entra's page posts the code from its own site: the browser sends no cookies of ours.
        async with (
            aiohttp.ClientSession() as cookieless,
            cookieless.post(action, data=fields, allow_redirects=False) as relay,
        ):
            assert relay.status == 200
            action, fields = form_of(await relay.text())
        return await self.client.post(action, data=fields, allow_redirects=False)

    async def me(self) -> int:
        return (await self.client.get("/console/api/me")).status


@pytest.fixture
async def flow(
    aiohttp_server: ServerFactory, standin_ca: StandInCA, tmp_path: Path
) -> AsyncIterator[Flow]:
    provider = OpenIdStandIn(client_id="console-app-1", client_secret="s3cret", user=dict(EXPERT))
    server = await aiohttp_server(provider.app(), host="127.0.0.1", ssl=standin_ca.server_context)
    provider.base_url = str(server.make_url("")).rstrip("/")
    provider.issuer = f"{provider.base_url}/{PROVIDER_TENANT}/v2.0"
    port = free_port()
    settings = Settings(
        data_dir=tmp_path,
        console_client_id="console-app-1",
        console_client_secret="s3cret",
        console_authority=f"{provider.base_url}/{PROVIDER_TENANT}",
        console_experts_group_id=EXPERTS_GROUP,
        console_public_url=f"http://127.0.0.1:{port}",
        requests_ca_bundle=standin_ca.ca_file,
    )
    client = TestClient(
        TestServer(create_app(settings, storage=open_storage("memory://")), port=port)
    )
    await client.start_server()
    connector = aiohttp.TCPConnector(ssl=standin_ca.client_context())
    async with aiohttp.ClientSession(connector=connector) as https:
        yield Flow(client, provider, https)
    await client.close()


async def test_an_expert_signs_in_with_the_authorization_code_flow(flow: Flow) -> None:
    assert await flow.me() == 401
    done = await flow.sign_in()
    assert done.status == 303, await done.text()
    assert done.headers["Location"] == "/console"
    cookie = done.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    me = await flow.client.get("/console/api/me")
    body = await me.json()
    assert body["expert"] == {"id": EXPERT["oid"], "name": "Riley Chen"} and body["csrf"]
    assert not body["devSignIn"]
    page = await flow.client.get("/console", allow_redirects=False)
    assert page.status == 200 and "Content-Security-Policy" in page.headers
    assert (await flow.client.post("/console/auth/dev", data={"expert": "x"})).status == 404


@pytest.mark.parametrize(
    ("changes", "user"),
    [
        ({"aud": "someone-else"}, {}),
        ({"iss": "https://login.microsoftonline.com/other/v2.0"}, {}),
        ({"exp": int(time.time()) - 600, "iat": int(time.time()) - 4000}, {}),
        ({"nonce": "replayed"}, {}),
        ({}, {"groups": ["another-group"]}),
    ],
    ids=["wrong-audience", "wrong-issuer", "expired", "wrong-nonce", "not-an-expert"],
)
async def test_a_bad_id_token_or_a_non_expert_is_refused(
    flow: Flow, changes: dict[str, Any], user: dict[str, Any]
) -> None:
    flow.provider.id_token_changes = changes
    flow.provider.user.update(user)
    done = await flow.sign_in()
    assert done.status == 403 and "Sign-in refused" in await done.text()
    assert "Set-Cookie" not in done.headers or "de_console=" not in done.headers["Set-Cookie"]
    assert await flow.me() == 401


async def test_a_callback_without_the_login_cookie_or_reused_is_refused(flow: Flow) -> None:
    done = await flow.sign_in()
    assert done.status == 303
    flow.client.session.cookie_jar.clear()
    again = await flow.client.post(
        "/console/auth/finish", data={"code": "x", "state": "y"}, allow_redirects=False
    )
    assert again.status == 403


async def test_sign_out_needs_the_csrf_token_and_ends_the_session(flow: Flow) -> None:
    await flow.sign_in()
    me = await (await flow.client.get("/console/api/me")).json()
    refused = await flow.client.post("/console/auth/sign-out")
    assert refused.status == 403 and await flow.me() == 200
    out = await flow.client.post("/console/auth/sign-out", headers={"X-CSRF-Token": me["csrf"]})
    assert out.status == 204 and await flow.me() == 401
