"""App-only tokens from Microsoft Entra ID with msal, kept off the event loop.

* One ``ConfidentialClientApplication`` per authority, so that msal's token cache is reused.
* msal is blocking (``requests``), so every call runs in ``asyncio.to_thread``; an
  ``asyncio.Lock`` lets only one acquisition run at a time, and a token is reused until
  five minutes before it expires.
* msal contacts only ``AUTHORITY_HOST``: instance discovery, which would ask
  ``login.microsoftonline.com``, is turned off for hosts that are not public Microsoft clouds.
* Neither a token nor a secret is ever logged or put in an error message.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from bot.config import Settings
from bot.errors import ConfigError
from bot.graph.errors import GraphAuthError, GraphUnavailable

log = logging.getLogger(__name__)

REFRESH_MARGIN_SECONDS = 300.0

# Public Microsoft clouds, where msal's instance discovery stays on the same host (msal's list).
PUBLIC_AUTHORITY_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoft.com",
        "login.windows.net",
        "login.microsoftonline.us",
        "login.usgovcloudapi.net",
        "login.chinacloudapi.cn",
        "login.partner.microsoftonline.cn",
    }
)

# Errors msal reports for a configuration problem, which retrying cannot fix.
_PERMANENT = frozenset(
    {"invalid_client", "unauthorized_client", "invalid_scope", "invalid_request", "invalid_grant"}
)
_AADSTS = re.compile(r"AADSTS\d+")


class TokenSource(Protocol):
    async def token(self, scope: str) -> str:
        """A bearer token for ``scope`` (``https://graph.microsoft.com/.default``)."""
        ...

    def invalidate(self, scope: str) -> None:
        """Forget the cached token for ``scope``: the API refused it."""
        ...

    def close(self) -> None:
        """Release the connections to the authority."""
        ...


@dataclass(frozen=True)
class ClientCredentials:
    """The app registration that calls Graph: a certificate (recommended) or a secret."""

    tenant_id: str
    client_id: str
    authority_host: str
    secret: str = field(default="", repr=False)
    certificate: Path | None = None
    ca_bundle: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ClientCredentials:
        return cls(
            tenant_id=settings.graph_tenant_id,
            client_id=settings.graph_client_id,
            authority_host=settings.authority_host,
            secret=settings.graph_client_secret,
            certificate=settings.graph_client_certificate,
            ca_bundle=settings.requests_ca_bundle or settings.ssl_cert_file,
        )

    @property
    def authority(self) -> str:
        return f"{self.authority_host.rstrip('/')}/{self.tenant_id}"

    @property
    def instance_discovery(self) -> bool:
        return (urlsplit(self.authority_host).hostname or "") in PUBLIC_AUTHORITY_HOSTS

    def client_credential(self) -> str | dict[str, str]:
        """What msal takes: the secret, or the certificate's private key and certificate."""
        if self.certificate is None:
            if not self.secret:
                raise ConfigError("GRAPH_CLIENT_SECRET or GRAPH_CLIENT_CERTIFICATE is required")
            return self.secret
        return load_pem_credential(self.certificate)


def load_pem_credential(path: Path) -> dict[str, str]:
    """Split a PEM file into msal's ``private_key`` and ``public_certificate``.

    msal computes the SHA-256 thumbprint from the certificate.
    """
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        name = type(exc).__name__
        raise ConfigError(f"GRAPH_CLIENT_CERTIFICATE cannot be read: {name}") from None
    key = re.search(
        r"-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----.+?-----END (?:RSA |EC |ENCRYPTED )?"
        r"PRIVATE KEY-----",
        text,
        re.DOTALL,
    )
    cert = re.search(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", text, re.DOTALL)
    if key is None or cert is None:
        raise ConfigError(
            "GRAPH_CLIENT_CERTIFICATE must be a PEM file with the private key and the certificate"
        )
    if "ENCRYPTED" in key.group(0):
        raise ConfigError("GRAPH_CLIENT_CERTIFICATE must hold an unencrypted private key")
    return {"private_key": key.group(0), "public_certificate": cert.group(0)}


def _describe(result: dict[str, Any]) -> str:
    """A safe one-line summary of an msal error: its AADSTS code and first sentence."""
    description = str(result.get("error_description") or "")
    first = description.splitlines()[0] if description else ""
    codes = _AADSTS.findall(first)
    text = first.split(" Trace ID:")[0][:300]
    return text or (codes[0] if codes else "no description")


AppFactory = Callable[[ClientCredentials, Any], Any]


def _forget(app: Any, scope: str) -> None:
    """Drop msal's cached access tokens for ``scope``, so that the next call asks again."""
    cache = getattr(app, "token_cache", None)
    if cache is None:
        return
    import msal

    for item in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN, target=[scope])):
        cache.remove_at(item)


def http_client(ca_bundle: Path | None) -> Any:
    """msal's ``requests`` session. The CA bundle is passed with every request, because
    ``requests`` lets a ``REQUESTS_CA_BUNDLE`` in the environment override ``Session.verify``."""
    import requests

    session = requests.Session()
    verify: str | bool = str(ca_bundle) if ca_bundle else True
    session.request = functools.partial(  # type: ignore[method-assign]
        session.request, verify=verify, timeout=30
    )
    adapter = requests.adapters.HTTPAdapter(max_retries=1)
    session.mount("https://", adapter)
    return session


def _msal_app(credentials: ClientCredentials, session: Any) -> Any:
    import msal

    return msal.ConfidentialClientApplication(
        credentials.client_id,
        client_credential=credentials.client_credential(),
        authority=credentials.authority,
        instance_discovery=credentials.instance_discovery,
        http_client=session,
    )


class MsalTokenSource:
    """Client-credentials tokens for one app registration, one msal app per authority."""

    def __init__(
        self,
        credentials: ClientCredentials,
        *,
        app_factory: AppFactory = _msal_app,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._credentials = credentials
        self._app_factory = app_factory
        self._clock = clock
        self._apps: dict[str, Any] = {}
        self._sessions: list[Any] = []
        self._stale: set[str] = set()
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = asyncio.Lock()

    def _fresh(self, scope: str) -> str | None:
        found = self._tokens.get(scope)
        if found and found[1] - self._clock() > REFRESH_MARGIN_SECONDS:
            return found[0]
        return None

    async def token(self, scope: str) -> str:
        cached = self._fresh(scope)
        if cached:
            return cached
        async with self._lock:
            cached = self._fresh(scope)
            if cached:
                return cached
            started = self._clock()
            result = await asyncio.to_thread(self._acquire, scope)
            token = result.get("access_token")
            if not isinstance(token, str) or not token:
                raise self._error(result)
            expires_in = float(result.get("expires_in") or 3600)
            self._tokens[scope] = (token, started + expires_in)
            return token

    def invalidate(self, scope: str) -> None:
        self._tokens.pop(scope, None)
        self._stale.add(scope)

    def close(self) -> None:
        for session in self._sessions:
            session.close()
        self._sessions.clear()
        self._apps.clear()

    def _acquire(self, scope: str) -> dict[str, Any]:
        """Runs in a worker thread, one at a time (the caller holds the lock)."""
        authority = self._credentials.authority
        try:
            app = self._apps.get(authority)
            if app is None:
                session = http_client(self._credentials.ca_bundle)
                self._sessions.append(session)
                app = self._app_factory(self._credentials, session)
                self._apps[authority] = app
            if scope in self._stale:
                self._stale.discard(scope)
                _forget(app, scope)
            result = app.acquire_token_for_client(scopes=[scope])
        except ConfigError:
            raise
        except ValueError as exc:
            # msal raises ValueError for an authority it cannot use (discovery failed).
            return {"error": "authority_unavailable", "error_description": str(exc)[:300]}
        except Exception as exc:  # requests' connection errors, timeouts, bad TLS
            return {"error": "connection_error", "error_description": type(exc).__name__}
        return result if isinstance(result, dict) else {"error": "no_result"}

    def _error(self, result: dict[str, Any]) -> Exception:
        code = str(result.get("error") or "token_error")
        description = _describe(result)
        request_id = str(result.get("correlation_id") or "")
        log.warning("token request failed: %s (%s)", code, description)
        if code in _PERMANENT:
            return GraphAuthError(
                f"Microsoft Entra ID refused the app's credentials ({description}). Check "
                "GRAPH_CLIENT_ID, GRAPH_TENANT_ID and the secret or certificate.",
                code=code,
                request_id=request_id,
                service="login",
            )
        return GraphUnavailable(
            f"Microsoft Entra ID could not issue a token ({description}).",
            code=code,
            request_id=request_id,
            service="login",
        )
