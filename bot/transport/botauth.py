"""Bot Framework token validation that never blocks the event loop.

Replaces botbuilder 4.17's inbound authentication, which fetches the OpenID metadata and keys
with a blocking ``requests.get`` (no timeout) on the event loop and doesn't cache a failure.
Here, following "Authenticate requests from the Bot Connector service to your bot" (Bot
Framework REST API authentication):

* The OpenID metadata (``BOT_OPENID_METADATA``; sovereign clouds have their own) and the key set
  at its ``jwks_uri`` are fetched with aiohttp on the process's one client session, with a
  timeout, and cached for their ``Cache-Control: max-age`` (bounded to one minute .. five days).
* A stale key set keeps working while a background refresh runs or fails. An unknown ``kid``
  triggers at most one refresh a minute; a failed first load is retried at most every
  ``_FAILED_LOAD_BACKOFF`` seconds, and requests meanwhile get :class:`KeysUnavailable` (503).
* A token is accepted only if: ``Authorization: Bearer <JWT>``; ``alg`` RS256 (and listed in the
  metadata's ``id_token_signing_alg_values_supported``); the ``kid`` is in the key set; the key
  is endorsed for the activity's channel, and the channel is ``msteams``; the signature
  verifies (PyJWT); ``iss`` is the metadata's ``issuer`` (``https://api.botframework.com`` in
  the public cloud); ``aud`` is the bot's app id; ``exp``/``nbf`` hold with five minutes of
  clock skew; the ``serviceurl`` claim equals the activity's ``serviceUrl``.

Only tokens the Bot Connector issues (the metadata's issuer) are accepted; Entra-issued tokens
(skills, the Emulator) are not. Every refusal raises :class:`TokenRejected` (a
``PermissionError``) with a short, fixed reason for one log line; the HTTP answer carries none.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import jwt
from botbuilder.schema import Activity, CallerIdConstants
from botframework.connector.auth import (
    AuthenticateRequestResult,
    AuthenticationConstants,
    BotFrameworkAuthentication,
    ClaimsIdentity,
)

from bot.logsafe import RateLimitedLog, safe

log = logging.getLogger(__name__)

DEFAULT_METADATA_URL = "https://login.botframework.com/v1/.well-known/openidconfiguration"
ALGORITHM = "RS256"
CHANNEL = "msteams"
CLOCK_SKEW_SECONDS = 300
_MIN_TTL = 60.0
_MAX_TTL = 5 * 24 * 3600.0
_DEFAULT_TTL = 24 * 3600.0
_UNKNOWN_KID_INTERVAL = 60.0
_FAILED_LOAD_BACKOFF = 10.0
_MAX_DOCUMENT_BYTES = 1_048_576
_MAX_TOKEN_CHARS = 16_384
_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-)?max-age\s*=\s*\"?(\d{1,10})", re.IGNORECASE)
_NO_CACHE = re.compile(r"(?:^|,)\s*no-(?:cache|store)\b", re.IGNORECASE)

Clock = Callable[[], float]


class TokenRejected(PermissionError):
    """The request's token is not acceptable. ``reason`` is short and fixed (for one log line)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class KeysUnavailable(Exception):
    """The signing keys could not be had (the metadata host failed): answer 503, not 401."""


@dataclass(frozen=True)
class SigningKey:
    key: Any
    endorsements: frozenset[str]


@dataclass
class KeySet:
    issuer: str
    algorithms: frozenset[str]
    keys: dict[str, SigningKey]
    expires_at: float


def cache_seconds(*headers: str | None) -> float:
    """The shortest lifetime the ``Cache-Control`` headers allow, within sane bounds."""
    ages: list[float] = []
    for header in headers:
        if not header:
            continue
        if _NO_CACHE.search(header):
            return _MIN_TTL
        match = _MAX_AGE.search(header)
        if match:
            ages.append(float(match.group(1)))
    return max(_MIN_TTL, min(_MAX_TTL, min(ages, default=_DEFAULT_TTL)))


class MetadataError(Exception):
    pass


def _parse_keys(document: Any) -> dict[str, SigningKey]:
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise MetadataError("the key set has no keys list")
    keys: dict[str, SigningKey] = {}
    for item in document["keys"]:
        if not isinstance(item, dict) or item.get("kty") != "RSA":
            continue
        kid = item.get("kid")
        if not isinstance(kid, str) or not kid:
            continue
        endorsements = item.get("endorsements") or []
        if not isinstance(endorsements, list):
            continue
        try:
            key = jwt.PyJWK({k: v for k, v in item.items() if k != "endorsements"}, ALGORITHM)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            continue
        keys[kid] = SigningKey(key.key, frozenset(e for e in endorsements if isinstance(e, str)))
    if not keys:
        raise MetadataError("the key set has no usable RSA key")
    return keys


@dataclass
class BotTokenVerifier:
    """Validates the Bot Connector's tokens; one per app, bound to the process's client session.

    ``clock`` is monotonic seconds (for the cache); token expiry is checked by PyJWT.
    """

    app_id: str
    http: aiohttp.ClientSession
    metadata_url: str = DEFAULT_METADATA_URL
    timeout: float = 10.0
    clock: Clock = time.monotonic
    _keys: KeySet | None = None
    _refresh: asyncio.Task[None] | None = None
    _last_attempt: float = float("-inf")
    _last_failure: float = float("-inf")
    _refused: RateLimitedLog = field(default_factory=lambda: RateLimitedLog(log))

    # --- the cache ------------------------------------------------------------------------

    async def _get_json(self, url: str) -> tuple[Any, str | None]:
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with self.http.get(url, timeout=timeout, allow_redirects=False) as response:
            if response.status != 200:
                raise MetadataError(f"{safe(url)} answered {response.status}")
            body = await response.content.read(_MAX_DOCUMENT_BYTES + 1)
            if len(body) > _MAX_DOCUMENT_BYTES:
                raise MetadataError(f"{safe(url)} answered more than {_MAX_DOCUMENT_BYTES} bytes")
            try:
                return json.loads(body), response.headers.get("Cache-Control")
            except ValueError:
                raise MetadataError(f"{safe(url)} answered no JSON") from None

    async def _load(self) -> None:
        self._last_attempt = self.clock()
        try:
            async with asyncio.timeout(self.timeout):
                metadata, meta_cache = await self._get_json(self.metadata_url)
                if not isinstance(metadata, dict):
                    raise MetadataError("the OpenID metadata is not an object")
                issuer, jwks_uri = metadata.get("issuer"), metadata.get("jwks_uri")
                if not isinstance(issuer, str) or not issuer:
                    raise MetadataError("the OpenID metadata has no issuer")
                if not isinstance(jwks_uri, str) or not jwks_uri.startswith("https://"):
                    raise MetadataError("the OpenID metadata has no https jwks_uri")
                algorithms = metadata.get("id_token_signing_alg_values_supported") or [ALGORITHM]
                if not isinstance(algorithms, list):
                    raise MetadataError("the OpenID metadata's algorithms are not a list")
                document, keys_cache = await self._get_json(jwks_uri)
                keys = _parse_keys(document)
        except Exception as exc:  # a refresh never fails a request that has keys
            self._last_failure = self.clock()
            detail = "timed out" if isinstance(exc, TimeoutError) else safe(str(exc), 160)
            log.warning("Bot Framework signing keys not refreshed: %s", detail)
            return
        self._keys = KeySet(
            issuer=issuer,
            algorithms=frozenset(a for a in algorithms if isinstance(a, str)),
            keys=keys,
            expires_at=self.clock() + cache_seconds(meta_cache, keys_cache),
        )

    def _start_refresh(self) -> asyncio.Task[None]:
        if self._refresh is None or self._refresh.done():
            self._refresh = asyncio.get_running_loop().create_task(self._load())
        return self._refresh

    async def _wait_refresh(self) -> None:
        # shield: a request that gives up (client gone) doesn't cancel the shared refresh.
        await asyncio.shield(self._start_refresh())

    async def key_set(self) -> KeySet:
        """The cached keys; loaded on first use; refreshed in the background once stale."""
        now = self.clock()
        if self._keys is None:
            idle = self._refresh is None or self._refresh.done()
            if idle and now - self._last_failure < _FAILED_LOAD_BACKOFF:
                raise KeysUnavailable
            await self._wait_refresh()
            if self._keys is None:
                raise KeysUnavailable
        elif now >= self._keys.expires_at and now - self._last_attempt >= _MIN_TTL:
            self._start_refresh()
        return self._keys

    async def _key(self, kid: str) -> tuple[KeySet, SigningKey]:
        keys = await self.key_set()
        found = keys.keys.get(kid)
        if found is None and self.clock() - self._last_attempt >= _UNKNOWN_KID_INTERVAL:
            await self._wait_refresh()
            keys = self._keys or keys
            found = keys.keys.get(kid)
        if found is None:
            raise TokenRejected("unknown signing key")
        return keys, found

    async def idle(self) -> None:
        """Wait for a background refresh to finish (for tests and shutdown)."""
        if self._refresh is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresh

    async def close(self) -> None:
        if self._refresh is not None and not self._refresh.done():
            self._refresh.cancel()
        await self.idle()

    # --- the check ------------------------------------------------------------------------

    async def verify(
        self, auth_header: str, channel_id: str | None, service_url: str | None
    ) -> dict[str, Any]:
        """The token's claims, or :class:`TokenRejected` / :class:`KeysUnavailable`."""
        try:
            return await self._verify(auth_header, channel_id, service_url)
        except TokenRejected as exc:
            self._refused.warning("refused", "Bot Framework token refused: %s", exc.reason)
            raise

    async def _verify(
        self, auth_header: str, channel_id: str | None, service_url: str | None
    ) -> dict[str, Any]:
        scheme, _, token = (auth_header or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise TokenRejected("no bearer token")
        if len(token) > _MAX_TOKEN_CHARS or token.count(".") != 2:
            raise TokenRejected("not a signed JWT")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenRejected("not a signed JWT") from None
        if header.get("alg") != ALGORITHM:
            raise TokenRejected("algorithm is not RS256")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > 256:
            raise TokenRejected("no key id")
        if channel_id != CHANNEL:
            raise TokenRejected("channel is not msteams")
        keys, key = await self._key(kid)
        if ALGORITHM not in keys.algorithms:
            raise TokenRejected("algorithm not offered by the metadata")
        if channel_id not in key.endorsements:
            raise TokenRejected("key not endorsed for the channel")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[ALGORITHM],
                audience=self.app_id,
                issuer=keys.issuer,
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRejected("expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenRejected("not yet valid") from None
        except jwt.InvalidAudienceError:
            raise TokenRejected("wrong audience") from None
        except jwt.InvalidIssuerError:
            raise TokenRejected("wrong issuer") from None
        except jwt.InvalidSignatureError:
            raise TokenRejected("bad signature") from None
        except jwt.PyJWTError:
            raise TokenRejected("invalid token") from None
        if not service_url or claims.get("serviceurl") != service_url:
            raise TokenRejected("serviceUrl does not match the token")
        return claims


class BotAuthenticator:
    """What /api/messages asks before a turn: anonymous in local mode, else a verified token.

    Returns botbuilder's ``AuthenticateRequestResult`` (handed to ``process_activity``), so
    botbuilder's own, blocking inbound validation never runs.
    """

    def __init__(self, auth: BotFrameworkAuthentication, verifier: BotTokenVerifier | None) -> None:
        self._auth = auth
        self.verifier = verifier

    async def authenticate(self, activity: Activity, auth_header: str) -> AuthenticateRequestResult:
        if self.verifier is None:
            identity = ClaimsIdentity({}, True, AuthenticationConstants.ANONYMOUS_AUTH_TYPE)
            caller_id = None
        else:
            claims = await self.verifier.verify(
                auth_header, activity.channel_id, activity.service_url
            )
            identity = ClaimsIdentity(claims, True)
            caller_id = CallerIdConstants.public_azure_channel
        result = AuthenticateRequestResult()
        result.claims_identity = identity
        result.audience = self._auth.get_originating_audience()
        result.caller_id = caller_id
        result.connector_factory = self._auth.create_connector_factory(identity)
        return result

    async def close(self) -> None:
        if self.verifier is not None:
            await self.verifier.close()
