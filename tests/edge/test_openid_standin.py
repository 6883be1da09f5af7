"""The OpenID stand-in itself: discovery, keys, rotation, minting that PyJWT verifies."""

from __future__ import annotations

import ssl

import aiohttp
import jwt
import pytest

from tests.standins.openid import OpenIdStandIn, tamper
from tests.standins.tls import StandInCA


async def _get(url: str, ca: StandInCA) -> tuple[dict[str, str], dict]:  # type: ignore[type-arg]
    context: ssl.SSLContext = ca.client_context()
    async with aiohttp.ClientSession() as session, session.get(url, ssl=context) as response:
        assert response.status == 200
        return dict(response.headers), await response.json()


async def test_discovery_and_keys_verify_a_minted_token(
    openid: OpenIdStandIn, standin_ca: StandInCA
) -> None:
    headers, document = await _get(openid.metadata_url, standin_ca)
    assert document["issuer"] == "https://api.botframework.com"
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    assert "max-age" in headers["Cache-Control"]
    _, jwks = await _get(document["jwks_uri"], standin_ca)
    (key,) = jwks["keys"]
    assert key["endorsements"] == ["msteams"]
    token = openid.mint(openid.claims("app-id", "https://smba.example/"))
    assert jwt.get_unverified_header(token)["kid"] == key["kid"]
    public = jwt.PyJWK(key).key
    claims = jwt.decode(token, public, algorithms=["RS256"], audience="app-id")
    assert claims["serviceurl"] == "https://smba.example/"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(tamper(token, aud="other"), public, algorithms=["RS256"], audience="other")


async def test_rotation_publishes_the_new_key_and_retire_removes_the_old(
    openid: OpenIdStandIn, standin_ca: StandInCA
) -> None:
    old = openid.current
    new = openid.rotate()
    _, jwks = await _get(openid.base_url + "/v1/.well-known/keys", standin_ca)
    assert [k["kid"] for k in jwks["keys"]] == [old.kid, new.kid]
    openid.retire(old.kid)
    _, jwks = await _get(openid.base_url + "/v1/.well-known/keys", standin_ca)
    assert [k["kid"] for k in jwks["keys"]] == [new.kid]
    assert openid.jwks_requests == 2
