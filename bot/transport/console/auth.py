"""Who is signed in to the expert console.

* **OpenID Connect** against the MDR provider's Microsoft Entra ID: the authorization code flow
  with PKCE and ``response_mode=form_post``, run by msal (``initiate_auth_code_flow`` /
  ``acquire_token_by_auth_code_flow``, which also checks ``state``). Entra posts the code to
  ``/console/auth/callback`` from its own site, so the browser sends no SameSite cookie there:
  that page posts it on to ``/console/auth/finish`` from the console's own origin, where the
  login cookie binds the flow to the browser that started it. The id token is then verified
  with PyJWT against the provider's published keys (signature RS256, ``aud`` = the client id,
  ``iss`` from discovery, ``exp``, ``nonce``) and the expert must be in the experts' group
  (``groups`` claim) or tenant (``tid``). msal is blocking, so it runs in a thread.
* **Development sign-in** (local mode only, never with ``MicrosoftAppId``): choose a demo
  expert. It is logged as a warning at start-up.

Sessions are kept in this process (an HttpOnly, SameSite=Lax cookie holds a random id), each
with its own CSRF token; a restart signs everyone out.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bot.chat.model import Expert
from bot.config import Settings

log = logging.getLogger(__name__)

SESSION_COOKIE = "de_console"
LOGIN_COOKIE = "de_console_login"
LOGIN_SECONDS = 600.0
MAX_SESSIONS = 10_000
DEMO_EXPERTS = (
    Expert("demo-expert-1", "Jordan Avery"),
    Expert("demo-expert-2", "Sam Okafor"),
)
PUBLIC_AUTHORITY_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoft.com",
        "login.windows.net",
        "login.microsoftonline.us",
        "login.chinacloudapi.cn",
    }
)


class SignInError(Exception):
    """The sign-in was refused; the message is safe to show."""


@dataclass(frozen=True)
class Session:
    id: str
    expert: Expert
    csrf: str
    expires_at: float

    def csrf_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf, token or "")


class Sessions:
    def __init__(self, lifetime: float, clock: Callable[[], float] = time.time) -> None:
        self._lifetime = lifetime
        self._clock = clock
        self._sessions: dict[str, Session] = {}
        self._logins: dict[str, tuple[float, dict[str, Any]]] = {}

    def create(self, expert: Expert) -> Session:
        now = self._clock()
        if len(self._sessions) >= MAX_SESSIONS:
            self._sessions = {k: s for k, s in self._sessions.items() if s.expires_at > now}
        session = Session(
            id=secrets.token_urlsafe(32),
            expert=expert,
            csrf=secrets.token_urlsafe(32),
            expires_at=now + self._lifetime,
        )
        self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        if session.expires_at <= self._clock():
            del self._sessions[session_id]
            return None
        return session

    def drop(self, session_id: str | None) -> None:
        if session_id:
            self._sessions.pop(session_id, None)

    def begin_login(self, flow: dict[str, Any]) -> str:
        now = self._clock()
        self._logins = {k: v for k, v in self._logins.items() if v[0] > now}
        state = str(flow["state"])
        self._logins[state] = (now + LOGIN_SECONDS, flow)
        return state

    def finish_login(self, state: str) -> dict[str, Any] | None:
        entry = self._logins.pop(state, None)
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]


class OidcSignIn:
    """The authorization code flow with PKCE (msal) and the id token's checks (PyJWT)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._authority = settings.console_authority.rstrip("/")
        self._redirect_uri = f"{settings.console_public_url.rstrip('/')}/console/auth/callback"
        self._app: Any = None
        self._session: Any = None
        self._metadata: dict[str, Any] | None = None
        self._keys: Any = None
        self._lock = asyncio.Lock()

    def _msal(self) -> Any:
        if self._app is None:
            import msal

            from bot.graph.auth import http_client

            settings = self._settings
            self._session = http_client(settings.requests_ca_bundle or settings.ssl_cert_file)
            host = urlsplit(self._authority).hostname or ""
            self._app = msal.ConfidentialClientApplication(
                settings.console_client_id,
                client_credential=settings.console_client_secret,
                authority=self._authority,
                instance_discovery=host in PUBLIC_AUTHORITY_HOSTS,
                http_client=self._session,
            )
        return self._app

    def _discover(self, refresh: bool = False) -> tuple[dict[str, Any], Any]:
        import jwt

        self._msal()
        if self._metadata is None:
            url = f"{self._authority}/v2.0/.well-known/openid-configuration"
            self._metadata = self._session.get(url).json()
        if self._keys is None or refresh:
            jwks = self._session.get(self._metadata["jwks_uri"]).json()
            self._keys = jwt.PyJWKSet.from_dict(jwks)
        return self._metadata, self._keys

    async def begin(self) -> dict[str, Any]:
        """A new flow: its ``auth_uri`` is where to send the browser."""

        def start() -> dict[str, Any]:
            flow: dict[str, Any] = self._msal().initiate_auth_code_flow(
                scopes=[], redirect_uri=self._redirect_uri, response_mode="form_post"
            )
            return flow

        async with self._lock:
            return await asyncio.to_thread(start)

    async def finish(self, flow: dict[str, Any], response: dict[str, str]) -> Expert:
        def redeem() -> dict[str, Any]:
            result: dict[str, Any] = self._msal().acquire_token_by_auth_code_flow(flow, response)
            return result

        try:
            async with self._lock:
                result = await asyncio.to_thread(redeem)
        except ValueError as exc:  # msal: state mismatch or a malformed response
            raise SignInError("The sign-in response didn't match this sign-in") from exc
        except RuntimeError as exc:  # msal: the id token's nonce isn't this flow's
            log.warning("console sign-in refused: %s", str(exc)[:60])
            raise SignInError("The id token doesn't belong to this sign-in (nonce)") from exc
        if "error" in result or not result.get("id_token"):
            log.warning(
                "console sign-in refused by the authority: %s",
                str(result.get("error", "no id token"))[:100],
            )
            raise SignInError("The identity provider refused the sign-in")
        nonce = str(flow.get("nonce", ""))
        # msal sends the SHA-256 of the flow's nonce; the id token carries that.
        expected = hashlib.sha256(nonce.encode("ascii")).hexdigest() if nonce else ""
        claims = await self._verify(str(result["id_token"]), expected)
        return self._expert(claims)

    async def _verify(self, token: str, nonce: str) -> dict[str, Any]:
        import jwt

        try:
            header = jwt.get_unverified_header(token)
            async with self._lock:
                metadata, keys = await asyncio.to_thread(self._discover)
                kid = str(header.get("kid", ""))
                if kid not in {k.key_id for k in keys.keys}:
                    metadata, keys = await asyncio.to_thread(self._discover, True)
            key = next((k for k in keys.keys if k.key_id == header.get("kid")), None)
            if key is None:
                raise SignInError("The id token is signed with an unknown key")
            unverified = jwt.decode(token, options={"verify_signature": False})
            issuer = str(metadata.get("issuer", "")).replace(
                "{tenantid}", str(unverified.get("tid", ""))
            )
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=["RS256"],
                audience=self._settings.console_client_id,
                issuer=issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
                leeway=60,
            )
        except jwt.PyJWTError as exc:
            log.warning("console sign-in: the id token was refused: %s", type(exc).__name__)
            raise SignInError(f"The id token was refused ({type(exc).__name__})") from exc
        if not nonce or not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
            raise SignInError("The id token doesn't belong to this sign-in (nonce)")
        return claims

    def _expert(self, claims: dict[str, Any]) -> Expert:
        settings = self._settings
        group = settings.console_experts_group_id
        tenant = settings.console_experts_tenant_id
        groups = claims.get("groups")
        in_group = bool(group) and isinstance(groups, list) and group in groups
        in_tenant = bool(tenant) and str(claims.get("tid", "")).lower() == tenant.lower()
        if not (in_group or in_tenant):
            log.warning("console sign-in refused: not a member of the experts' group or tenant")
            raise SignInError("This account isn't one of the Defender Experts")
        user_id = str(claims.get("oid") or claims.get("sub"))
        name = str(claims.get("name") or claims.get("preferred_username") or "An expert")
        return Expert(user_id[:128], " ".join(name.split())[:128])

    def close(self) -> None:
        if self._session is not None:
            self._session.close()


def demo_expert(expert_id: str) -> Expert | None:
    return next((e for e in DEMO_EXPERTS if e.id == expert_id), None)


def claims_json(expert: Expert) -> str:
    return json.dumps({"id": expert.id, "name": expert.name})
