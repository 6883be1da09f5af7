"""A Microsoft Entra ID stand-in for the client-credentials grant, served over https.

* ``GET /{tenant}/v2.0/.well-known/openid-configuration``: OpenID discovery, which msal reads
  first when instance discovery is off.
* ``POST /{tenant}/oauth2/v2.0/token``: ``grant_type=client_credentials`` with a
  ``client_secret``, or a ``client_assertion`` JWT signed by the app's certificate (checked
  against the certificate: signature, ``aud``, ``iss``/``sub`` and the ``x5t#S256`` thumbprint).
* Errors look like Entra's: ``{"error", "error_description": "AADSTS…", "error_codes", …}``.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from tests.standins.base import StandIn


@dataclass
class Issued:
    client_id: str
    audience: str


@dataclass
class LoginStandIn(StandIn):
    tenant_id: str = ""
    client_id: str = ""
    client_secret: str = ""
    certificate_pem: bytes = b""
    expires_in: int = 3599
    tokens: dict[str, Issued] = field(default_factory=dict)
    hosts: list[str] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.middleware, self._record_host])
        app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", self._discovery)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        return app

    @web.middleware
    async def _record_host(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.hosts.append(request.host)
        response: web.StreamResponse = await handler(request)
        return response

    def audience_of(self, token: str) -> str | None:
        issued = self.tokens.get(token)
        return None if issued is None else issued.audience

    def token_requests(self) -> int:
        return self.count("POST", r"/oauth2/v2\.0/token$")

    async def _discovery(self, request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"]
        if tenant != self.tenant_id:
            return _aad_error(400, "invalid_tenant", "AADSTS90002: Tenant not found.", 90002)
        base = f"{request.scheme}://{request.host}/{tenant}"
        return web.json_response(
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "issuer": f"{base}/v2.0",
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "response_types_supported": ["code", "id_token", "code id_token"],
                "tenant_region_scope": "WW",
            }
        )

    async def _token(self, request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"]
        form = await request.post()
        if tenant != self.tenant_id:
            return _aad_error(400, "invalid_request", "AADSTS90002: Tenant not found.", 90002)
        if form.get("grant_type") != "client_credentials":
            return _aad_error(400, "unsupported_grant_type", "AADSTS70003: bad grant.", 70003)
        if form.get("client_id") != self.client_id:
            return _aad_error(
                400,
                "unauthorized_client",
                f"AADSTS700016: Application with identifier '{form.get('client_id')}' was not "
                "found in the directory.",
                700016,
            )
        scope = str(form.get("scope") or "")
        scopes = [s for s in scope.split() if s.endswith("/.default")]
        if len(scopes) != 1:
            return _aad_error(400, "invalid_scope", "AADSTS1002012: invalid scope.", 1002012)
        endpoint = f"{request.scheme}://{request.host}/{tenant}/oauth2/v2.0/token"
        if not self._authenticated(form, endpoint):
            return _aad_error(
                401,
                "invalid_client",
                "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in "
                "the request is the client secret value, not the client secret ID.",
                7000215,
            )
        token = secrets.token_urlsafe(24)
        self.tokens[token] = Issued(self.client_id, scopes[0].removesuffix("/.default"))
        return web.json_response(
            {
                "token_type": "Bearer",
                "expires_in": self.expires_in,
                "ext_expires_in": self.expires_in,
                "access_token": token,
            }
        )

    def _authenticated(self, form: Any, endpoint: str) -> bool:
        secret = form.get("client_secret")
        if secret is not None:
            return bool(self.client_secret) and secret == self.client_secret
        assertion = form.get("client_assertion")
        if (
            assertion is None
            or form.get("client_assertion_type")
            != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            or not self.certificate_pem
        ):
            return False
        cert = x509.load_pem_x509_certificate(self.certificate_pem)
        header = jwt.get_unverified_header(str(assertion))
        thumbprint = base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA256())).rstrip(b"=")
        if str(header.get("x5t#S256", "")).rstrip("=").encode() != thumbprint:
            return False
        try:
            claims = jwt.decode(
                str(assertion),
                cert.public_key(),  # type: ignore[arg-type]
                algorithms=["PS256", "RS256"],
                audience=endpoint,
            )
        except jwt.PyJWTError:
            return False
        return claims.get("iss") == self.client_id and claims.get("sub") == self.client_id


def _aad_error(status: int, error: str, description: str, code: int) -> web.Response:
    correlation = str(uuid.uuid4())
    return web.json_response(
        {
            "error": error,
            "error_description": f"{description} Trace ID: {uuid.uuid4()} Correlation ID: "
            f"{correlation} Timestamp: 2026-11-27 09:00:00Z",
            "error_codes": [code],
            "timestamp": "2026-11-27 09:00:00Z",
            "trace_id": str(uuid.uuid4()),
            "correlation_id": correlation,
        },
        status=status,
    )
