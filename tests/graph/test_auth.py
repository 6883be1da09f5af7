"""Tokens: msal with a secret or a certificate, against the https login stand-in only."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from bot.errors import ConfigError
from bot.graph.auth import ClientCredentials, MsalTokenSource, load_pem_credential
from bot.graph.clients import build_apis, defender_scope, graph_scope
from bot.graph.errors import GraphAuthError, GraphUnavailable
from tests.standins.microsoft import SECRET, TENANT, Microsoft


def certificate_pem(folder: Path) -> tuple[Path, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "defender-experts-bot")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    path = folder / "graph-app.pem"
    path.write_bytes(key_pem + cert_pem)
    return path, cert_pem


def source(microsoft: Microsoft, **env: str) -> MsalTokenSource:
    return MsalTokenSource(ClientCredentials.from_settings(microsoft.settings(**env)))


async def test_a_secret_gets_a_token_from_the_authority_host_only(microsoft: Microsoft) -> None:
    tokens = source(microsoft)
    try:
        token = await tokens.token(graph_scope(microsoft.graph_url))
    finally:
        tokens.close()
    assert microsoft.login.audience_of(token) == microsoft.graph_url
    login_host = microsoft.login_url.removeprefix("https://")
    assert set(microsoft.login.hosts) == {login_host}
    paths = [c.path for c in microsoft.login.calls]
    assert paths == [
        f"/{TENANT}/v2.0/.well-known/openid-configuration",
        f"/{TENANT}/oauth2/v2.0/token",
    ]


async def test_a_certificate_signs_a_client_assertion(microsoft: Microsoft, tmp_path: Path) -> None:
    pem, cert = certificate_pem(tmp_path)
    microsoft.login.certificate_pem = cert
    microsoft.login.client_secret = ""
    tokens = source(microsoft, GRAPH_CLIENT_SECRET="", GRAPH_CLIENT_CERTIFICATE=str(pem))
    try:
        token = await tokens.token(graph_scope(microsoft.graph_url))
    finally:
        tokens.close()
    assert microsoft.login.audience_of(token) == microsoft.graph_url
    (request,) = [c for c in microsoft.login.calls if c.method == "POST"]
    assert "client_secret" not in request.body
    assert request.body["client_assertion_type"].endswith("jwt-bearer")


async def test_a_wrong_certificate_is_refused(microsoft: Microsoft, tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    _, other = certificate_pem(tmp_path / "other")
    pem, _ = certificate_pem(tmp_path)
    microsoft.login.certificate_pem = other
    tokens = source(microsoft, GRAPH_CLIENT_SECRET="", GRAPH_CLIENT_CERTIFICATE=str(pem))
    try:
        with pytest.raises(GraphAuthError) as info:
            await tokens.token(graph_scope(microsoft.graph_url))
    finally:
        tokens.close()
    assert info.value.code == "invalid_client"


async def test_tokens_are_reused_and_one_request_runs_at_a_time(microsoft: Microsoft) -> None:
    tokens = source(microsoft)
    scope = graph_scope(microsoft.graph_url)
    try:
        first = await asyncio.gather(*(tokens.token(scope) for _ in range(10)))
        again = await tokens.token(scope)
        other = await tokens.token(defender_scope(microsoft.defender_url))
    finally:
        tokens.close()
    assert len(set(first)) == 1
    assert again == first[0]
    assert other != again
    assert microsoft.login.token_requests() == 2


async def test_a_token_is_renewed_five_minutes_before_it_expires() -> None:
    now = [0.0]
    calls: list[str] = []

    class App:
        def acquire_token_for_client(self, scopes: list[str]) -> dict[str, Any]:
            calls.append(scopes[0])
            return {"access_token": f"t{len(calls)}", "expires_in": 3600}

    tokens = MsalTokenSource(
        ClientCredentials("t", "c", "https://login.microsoftonline.com", secret="s"),
        app_factory=lambda credentials, session: App(),
        clock=lambda: now[0],
    )
    assert await tokens.token("s/.default") == "t1"
    now[0] = 3600 - 301
    assert await tokens.token("s/.default") == "t1"
    now[0] = 3600 - 299
    assert await tokens.token("s/.default") == "t2"
    tokens.invalidate("s/.default")
    assert await tokens.token("s/.default") == "t3"
    tokens.close()


async def test_a_bad_secret_is_a_typed_error_without_the_secret(
    microsoft: Microsoft, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tokens = source(microsoft, GRAPH_CLIENT_SECRET="wrong-secret-value")
    try:
        with pytest.raises(GraphAuthError) as info:
            await tokens.token(graph_scope(microsoft.graph_url))
    finally:
        tokens.close()
    assert info.value.code == "invalid_client"
    assert "AADSTS7000215" in info.value.message
    assert "GRAPH_CLIENT_ID" in info.value.message
    assert "wrong-secret-value" not in str(info.value)
    assert "wrong-secret-value" not in caplog.text


async def test_an_unreachable_authority_is_retryable(microsoft: Microsoft) -> None:
    tokens = MsalTokenSource(
        ClientCredentials(TENANT, "c", "https://127.0.0.1:9", secret=SECRET),
    )
    try:
        with pytest.raises(GraphUnavailable):
            await tokens.token("https://graph.microsoft.com/.default")
    finally:
        tokens.close()


async def test_no_token_or_secret_reaches_a_log(
    microsoft: Microsoft, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    apis = build_apis(microsoft.settings(), http)
    try:
        await apis.graph.get("users")
        microsoft.graph.fail("GET", "/v1.0/users$", 403)
        with pytest.raises(Exception) as info:
            await apis.graph.get("users")
    finally:
        apis.close()
    issued = list(microsoft.login.tokens)
    assert issued
    for token in issued:
        assert token not in caplog.text
        assert token not in str(info.value)
    assert SECRET not in caplog.text


def test_instance_discovery_is_only_on_for_public_clouds() -> None:
    public = ClientCredentials("t", "c", "https://login.microsoftonline.com", secret="s")
    gov = ClientCredentials("t", "c", "https://login.microsoftonline.us", secret="s")
    local = ClientCredentials("t", "c", "https://127.0.0.1:8443", secret="s")
    assert public.instance_discovery and gov.instance_discovery
    assert not local.instance_discovery
    assert local.authority == "https://127.0.0.1:8443/t"


def test_pem_files_must_hold_a_key_and_a_certificate(tmp_path: Path) -> None:
    pem, _ = certificate_pem(tmp_path)
    credential = load_pem_credential(pem)
    assert credential["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    assert credential["public_certificate"].startswith("-----BEGIN CERTIFICATE-----")
    only_cert = tmp_path / "cert.pem"
    only_cert.write_text(credential["public_certificate"])
    with pytest.raises(ConfigError, match="GRAPH_CLIENT_CERTIFICATE"):
        load_pem_credential(only_cert)


def test_scopes_for_graph_and_defender() -> None:
    assert graph_scope("https://graph.microsoft.com") == "https://graph.microsoft.com/.default"
    assert (
        defender_scope("https://api.security.microsoft.com")
        == "https://api.securitycenter.microsoft.com/.default"
    )
    assert (
        defender_scope("https://eu.api.security.microsoft.com")
        == "https://api.securitycenter.microsoft.com/.default"
    )
    assert defender_scope("https://127.0.0.1:8443") == "https://127.0.0.1:8443/.default"
