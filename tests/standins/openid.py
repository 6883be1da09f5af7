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

As the MDR provider's Entra ID for the expert console (OpenID Connect, authorization code with
PKCE), ``client_id``/``client_secret``/``user`` set:

* ``GET [/{tenant}]/oauth2/v2.0/authorize``: signs ``user`` in at once (no page) and sends
  ``code`` and ``state`` back to ``redirect_uri``: with ``response_mode=form_post`` as Entra
  does, a page whose form posts them there (submitted by a script, or by its button); else a
  redirect with them in the query. The code remembers the ``nonce`` and the PKCE
  ``code_challenge`` (S256 only).
* ``POST [/{tenant}]/oauth2/v2.0/token``: ``grant_type=authorization_code`` redeems a code once,
  checking ``client_id``, ``client_secret``, ``redirect_uri`` and ``code_verifier``; answers
  ``id_token`` (RS256, ``iss``/``aud``/``nonce``/``tid``/``oid``/``name``/``groups``),
  ``access_token`` and ``client_info`` as Entra does, or Entra's error body
  (``invalid_grant``, ``invalid_client``) with 400/401. ``id_token_changes`` forges claims
  (wrong audience, issuer, an expired token).

Key rotation: :meth:`rotate` publishes a new signing key (the old one stays published until
:meth:`retire`). :meth:`mint` issues RS256 tokens with the current key, or with any key, header
or algorithm a test wants to forge. :meth:`hang` makes every request wait until
:meth:`release` (a metadata host that never answers); the fixture releases it at teardown.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

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
    client_id: str = ""
    client_secret: str = ""
    user: dict[str, Any] = field(default_factory=dict)
    id_token_changes: dict[str, Any] = field(default_factory=dict)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
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
        for prefix in ("", "/{tenant}"):
            app.router.add_get(f"{prefix}/oauth2/v2.0/authorize", self._authorize)
            app.router.add_post(f"{prefix}/oauth2/v2.0/token", self._token)
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
        tenant = request.match_info.get("tenant")
        endpoints = f"{base}/{tenant}" if tenant else base
        document = {
            "issuer": self.issuer,
            "authorization_endpoint": f"{endpoints}/oauth2/v2.0/authorize",
            "token_endpoint": f"{endpoints}/oauth2/v2.0/token",
            "response_types_supported": ["code", "id_token", "code id_token"],
            "subject_types_supported": ["pairwise"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
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

    # --- the authorization code flow (Entra's v2.0 endpoints) -----------------------------

    async def _authorize(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        redirect = q.get("redirect_uri", "")
        if q.get("client_id") != self.client_id or not redirect:
            return web.Response(
                status=400, text="AADSTS700016: Application not found in the directory."
            )
        if q.get("response_type") != "code" or q.get("code_challenge_method") != "S256":
            return _redirect_error(redirect, q.get("state", ""), "invalid_request")
        code = uuid.uuid4().hex
        self.codes[code] = {
            "client_id": q["client_id"],
            "redirect_uri": redirect,
            "nonce": q.get("nonce", ""),
            "challenge": q.get("code_challenge", ""),
            "scope": q.get("scope", ""),
            "user": dict(self.user),
        }
        fields = {"code": code, "state": q.get("state", "")}
        if q.get("response_mode") == "form_post":
            inputs = "".join(
                f'<input type="hidden" name="{k}" value="{html.escape(v)}">'
                for k, v in fields.items()
            )
            page = (
                "<!doctype html><html><head><title>Working...</title></head><body>"
                f'<form method="post" action="{html.escape(redirect)}">{inputs}'
                '<button type="submit">Continue</button></form>'
                "<script>document.forms[0].submit()</script></body></html>"
            )
            return web.Response(text=page, content_type="text/html")
        separator = "&" if "?" in redirect else "?"
        raise web.HTTPFound(f"{redirect}{separator}{urlencode(fields)}")

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("client_id") != self.client_id or form.get("client_secret") != (
            self.client_secret
        ):
            return _oauth_error(401, "invalid_client", "AADSTS7000215: Invalid client secret.")
        if form.get("grant_type") != "authorization_code":
            return _oauth_error(400, "unsupported_grant_type", "AADSTS70003: Unsupported grant.")
        grant = self.codes.pop(str(form.get("code", "")), None)
        if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
            return _oauth_error(
                400, "invalid_grant", "AADSTS70008: The authorization code is invalid or used."
            )
        verifier = str(form.get("code_verifier", ""))
        if _b64(hashlib.sha256(verifier.encode()).digest()) != grant["challenge"]:
            return _oauth_error(
                400, "invalid_grant", "AADSTS501481: The Code_Verifier does not match."
            )
        user = grant["user"]
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.client_id,
            "iat": now - 5,
            "nbf": now - 5,
            "exp": now + 3600,
            "nonce": grant["nonce"],
            "ver": "2.0",
            **user,
        }
        claims.update(self.id_token_changes)
        client_info = {"uid": user.get("oid", ""), "utid": user.get("tid", "")}
        return web.json_response(
            {
                "token_type": "Bearer",
                "scope": grant["scope"],
                "expires_in": 3600,
                "access_token": uuid.uuid4().hex,
                "id_token": self.mint({k: v for k, v in claims.items() if v is not None}),
                "client_info": _b64(json.dumps(client_info).encode()),
            },
            headers={"Cache-Control": "no-store"},
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


def _oauth_error(status: int, code: str, description: str) -> web.Response:
    return web.json_response(
        {
            "error": code,
            "error_description": description,
            "error_codes": [int(description.split(":")[0][5:])],
            "timestamp": "2026-11-27 09:00:00Z",
            "trace_id": str(uuid.uuid4()),
            "correlation_id": str(uuid.uuid4()),
        },
        status=status,
    )


def _redirect_error(redirect: str, state: str, code: str) -> web.StreamResponse:
    separator = "&" if "?" in redirect else "?"
    raise web.HTTPFound(f"{redirect}{separator}{urlencode({'error': code, 'state': state})}")


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
