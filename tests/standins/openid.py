"""An OpenID Connect provider stand-in, served over https with the test CA.

It plays the Bot Framework's token service by default (the metadata at
``/v1/.well-known/openidconfiguration``, issuer ``https://api.botframework.com``, keys with
channel ``endorsements``), and any other OpenID provider through its fields:

* ``GET /v1/.well-known/openidconfiguration`` and ``GET /.well-known/openid-configuration``
  (and ``/{tenant}/v2.0/.well-known/openid-configuration``, Entra's form): the discovery
  document, with ``issuer``, ``jwks_uri`` and ``id_token_signing_alg_values_supported``.
* ``GET /v1/.well-known/keys``: the JSON Web Key Set (RSA keys, ``kid``, ``x5t``, ``n``, ``e``,
  and ``endorsements`` as the Bot Framework publishes them).
* Both answer with ``Cache-Control`` (``cache_control``), so clients can honour it.

Key rotation: :meth:`rotate` publishes a new signing key (the old one stays published until
:meth:`retire`). :meth:`mint` issues RS256 tokens with the current key, or with any key, header
or algorithm a test wants to forge. :meth:`hang` makes every request wait until
:meth:`release` (a metadata host that never answers); the fixture releases it at teardown.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.standins.base import StandIn
from tests.standins.tls import StandInCA

BOT_FRAMEWORK_ISSUER = "https://api.botframework.com"
BOT_FRAMEWORK_METADATA_PATH = "/v1/.well-known/openidconfiguration"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey
    endorsements: list[str] = field(default_factory=lambda: ["msteams"])

    def jwk(self) -> dict[str, Any]:
        public = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        thumb = _b64(hashlib.sha256(self.kid.encode()).digest())  # stands for the cert thumbprint
        return {
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": thumb,
            "n": public["n"],
            "e": public["e"],
            "endorsements": list(self.endorsements),
        }


@dataclass
class OpenIdStandIn(StandIn):
    """Discovery, a rotating JWKS and RS256 minting. ``base_url`` is set once it serves."""

    issuer: str = BOT_FRAMEWORK_ISSUER
    cache_control: str = "public, max-age=86400"
    keys: list[SigningKey] = field(default_factory=list)
    base_url: str = ""
    _hanging: bool = False
    _released: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        if not self.keys:
            self.rotate()

    # --- the provider ---------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.middleware, self._maybe_hang])
        app.router.add_get(BOT_FRAMEWORK_METADATA_PATH, self._discovery)
        app.router.add_get("/.well-known/openid-configuration", self._discovery)
        app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", self._discovery)
        app.router.add_get("/v1/.well-known/keys", self._jwks)
        return app

    @property
    def metadata_url(self) -> str:
        return self.base_url + BOT_FRAMEWORK_METADATA_PATH

    @property
    def jwks_requests(self) -> int:
        return self.count("GET", r"/keys$")

    @property
    def metadata_requests(self) -> int:
        return self.count("GET", r"openid-?configuration$")

    @web.middleware
    async def _maybe_hang(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[Any]]
    ) -> web.StreamResponse:
        if self._hanging:
            await self._released.wait()
        response: web.StreamResponse = await handler(request)
        return response

    async def _discovery(self, request: web.Request) -> web.Response:
        base = f"{request.scheme}://{request.host}"
        document = {
            "issuer": self.issuer,
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "jwks_uri": f"{base}/v1/.well-known/keys",
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        }
        return web.json_response(document, headers={"Cache-Control": self.cache_control})

    async def _jwks(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"keys": [key.jwk() for key in self.keys]},
            headers={"Cache-Control": self.cache_control},
        )

    # --- test controls --------------------------------------------------------------------

    def rotate(self, endorsements: list[str] | None = None) -> SigningKey:
        """Publish a new key and sign with it from now on; older keys stay published."""
        key = SigningKey(
            kid=uuid.uuid4().hex, private=new_key(), endorsements=endorsements or ["msteams"]
        )
        self.keys.append(key)
        return key

    def retire(self, kid: str) -> None:
        self.keys = [k for k in self.keys if k.kid != kid]

    @property
    def current(self) -> SigningKey:
        return self.keys[-1]

    def hang(self) -> None:
        """Every request from now on waits until :meth:`release`."""
        self._hanging = True

    def release(self) -> None:
        self._hanging = False
        self._released.set()

    def claims(
        self, audience: str, service_url: str, *, lifetime: int = 3600, **extra: Any
    ) -> dict[str, Any]:
        """The claims the Bot Connector puts in a token to a bot (``serviceUrl`` among them)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": audience,
            "serviceurl": service_url,
            "nbf": now - 5,
            "iat": now - 5,
            "exp": now + lifetime,
        }
        claims.update(extra)
        return {k: v for k, v in claims.items() if v is not None}

    def mint(
        self,
        claims: dict[str, Any],
        *,
        key: SigningKey | rsa.RSAPrivateKey | bytes | str | None = None,
        algorithm: str = "RS256",
        headers: dict[str, Any] | None = None,
    ) -> str:
        """A signed token. By default RS256 with the current key and its ``kid``.

        ``key`` may be another :class:`SigningKey` (published or not), a bare RSA key (signed
        without a published ``kid``), or a secret for ``HS256``; ``algorithm="none"`` gives an
        unsigned token.
        """
        signing = self.current if key is None else key
        header: dict[str, Any] = {"typ": "JWT"}
        if isinstance(signing, SigningKey):
            header["kid"] = signing.kid
            header["x5t"] = signing.jwk()["x5t"]
            material: Any = signing.private
        else:
            material = signing
        if algorithm == "none":
            material = None
        header.update(headers or {})
        return jwt.encode(claims, material, algorithm=algorithm, headers=header)


def tamper(token: str, **changes: Any) -> str:
    """The same header and signature with a payload changed: the signature no longer fits."""
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{head}.{body}.{signature}"


ServerFactory = Callable[..., Awaitable[TestServer]]


@pytest.fixture
async def openid(
    aiohttp_server: ServerFactory, standin_ca: StandInCA
) -> AsyncIterator[OpenIdStandIn]:
    """The Bot Framework's OpenID provider, on https://127.0.0.1 with the test CA."""
    provider = OpenIdStandIn()
    server = await aiohttp_server(provider.app(), host="127.0.0.1", ssl=standin_ca.server_context)
    provider.base_url = str(server.make_url("")).rstrip("/")
    yield provider
    provider.release()
