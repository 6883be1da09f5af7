"""One validated, frozen settings object, loaded from the environment at start-up."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from bot.errors import ConfigError
from bot.webhook_secret import decode_secret

DEFAULT_PORT = 3978


def _str(env: Mapping[str, str], name: str, default: str = "") -> str:
    return env.get(name, default).strip()


def _int(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, *, low: float, high: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    value = _str(env, name, default).rstrip("/")
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(f"{name} must be an http(s) URL, got {value!r}")
    return value


def read_bot_endpoint(env: Mapping[str, str]) -> str:
    """BOT_ENDPOINT, the bot's public messaging endpoint: an http(s) URL, or "" if unset. The
    one rule for :attr:`Settings.bot_endpoint` and the Teams app package tool."""
    return _url(env, "BOT_ENDPOINT", "") if _str(env, "BOT_ENDPOINT") else ""


def _choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = _str(env, name, default).lower()
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


@dataclass(frozen=True)
class Settings:
    """Everything the bot reads from its environment. Build it with :meth:`from_env`."""

    port: int = DEFAULT_PORT
    host: str = "127.0.0.1"
    app_id: str = ""
    app_password: str = field(default="", repr=False)
    app_tenant_id: str = ""
    app_type: str = "MultiTenant"
    data_dir: Path = Path(".data")
    storage_url: str = field(default="", repr=False)
    tenant_backend: str = "demo"
    demo_tenant_file: Path | None = None
    tenant_allow_list: tuple[str, ...] = ()
    bot_endpoint: str = ""  # BOT_ENDPOINT: the public messaging endpoint (Teams app package)
    log_level: str = "INFO"
    connector_retry_attempts: int = 4
    max_request_bytes: int = 262_144
    graph_tenant_id: str = ""
    graph_client_id: str = ""
    graph_client_secret: str = field(default="", repr=False)
    graph_client_certificate: Path | None = None
    graph_endpoint: str = "https://graph.microsoft.com"
    authority_host: str = "https://login.microsoftonline.com"
    security_api_endpoint: str = "https://api.security.microsoft.com"
    ssl_cert_file: Path | None = None
    requests_ca_bundle: Path | None = None
    teams_app_catalog_id: str = ""
    mail_sender: str = ""
    high_value_users_group_id: str = ""
    teams_operation_poll_seconds: float = 30.0
    experts_webhook_secret: str = field(default="", repr=False)
    notify_max_attempts: int = 10
    notify_tenant_rps: int = 50
    notify_retention_days: int = 90
    chat_ack_seconds: float = 120.0
    console_authority: str = ""
    console_client_id: str = ""
    console_client_secret: str = field(default="", repr=False)
    console_experts_group_id: str = ""
    console_experts_tenant_id: str = ""
    console_public_url: str = ""
    console_session_hours: float = 8.0
    notify_lease_seconds: float = 300.0
    log_format: str = "text"
    metrics_enabled: bool = False
    instance_id: str = ""
    shutdown_grace_seconds: float = 20.0
    readiness_interval_hours: int = 24
    bot_openid_metadata: str = ""  # empty: the public cloud's (bot.transport.botauth)
    bot_openid_timeout: float = 10.0
    header_timeout: float = 20.0
    body_timeout: float = 30.0
    max_connections: int = 512
    allow_anonymous_on_network: bool = False

    @property
    def local_mode(self) -> bool:
        """True when no bot credentials are configured: anonymous requests are accepted."""
        return not self.app_id

    @property
    def console_oidc(self) -> bool:
        """True when the expert console signs in with OpenID Connect (Entra ID)."""
        return bool(self.console_client_id)

    @property
    def console_dev_sign_in(self) -> bool:
        """The development sign-in (choose a demo expert): local mode without OIDC only."""
        return self.local_mode and not self.console_oidc

    @property
    def resolved_storage_url(self) -> str:
        return self.storage_url or f"sqlite:///{(self.data_dir / 'bot.sqlite3').as_posix()}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and validate every setting; a bad value raises ConfigError naming the variable."""
        env = os.environ if env is None else env
        app_id = _str(env, "MicrosoftAppId")
        app_password = _str(env, "MicrosoftAppPassword")
        app_type = _str(env, "MicrosoftAppType", "MultiTenant") or "MultiTenant"
        if app_type not in ("MultiTenant", "SingleTenant", "UserAssignedMSI"):
            raise ConfigError(
                "MicrosoftAppType must be MultiTenant, SingleTenant or UserAssignedMSI, "
                f"got {app_type!r}"
            )
        app_tenant_id = _str(env, "MicrosoftAppTenantId")
        if app_id and app_type == "SingleTenant" and not app_tenant_id:
            raise ConfigError(
                "MicrosoftAppTenantId is required when MicrosoftAppType is SingleTenant"
            )
        if app_id and app_type != "UserAssignedMSI" and not app_password:
            raise ConfigError("MicrosoftAppPassword is required when MicrosoftAppId is set")
        if app_password and not app_id:
            raise ConfigError("MicrosoftAppPassword is set but MicrosoftAppId is not")

        storage_url = _str(env, "STORAGE_URL")
        if storage_url and not storage_url.startswith(
            ("sqlite:///", "postgresql://", "postgres://")
        ):
            raise ConfigError(
                "STORAGE_URL must be sqlite:///<path> (one instance) or "
                "postgresql://user:password@host:port/database (several instances)"
            )
        demo_file = _str(env, "DEMO_TENANT_FILE")
        allow = tuple(
            t.strip().lower() for t in _str(env, "TENANT_ALLOW_LIST").split(",") if t.strip()
        )
        log_level = _str(env, "LOG_LEVEL", "INFO").upper()
        if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {log_level!r}")
        return cls(
            port=_int(env, "PORT", DEFAULT_PORT, low=1, high=65535),
            host=_str(env, "HOST", "127.0.0.1") or "127.0.0.1",
            app_id=app_id,
            app_password=app_password,
            app_tenant_id=app_tenant_id,
            app_type=app_type,
            data_dir=Path(_str(env, "BOT_DATA_DIR", ".data") or ".data"),
            storage_url=storage_url,
            tenant_backend=_choice(env, "TENANT_BACKEND", "demo", ("demo", "graph")),
            demo_tenant_file=Path(demo_file) if demo_file else None,
            tenant_allow_list=allow,
            bot_endpoint=read_bot_endpoint(env),
            log_level=log_level,
            connector_retry_attempts=_int(env, "CONNECTOR_RETRY_ATTEMPTS", 4, low=1, high=10),
            max_request_bytes=_int(env, "MAX_REQUEST_BYTES", 262_144, low=1024, high=10_485_760),
            **_graph_settings(env, app_id, app_password, app_tenant_id),
            **_notification_settings(env),
            **_chat_settings(env),
            **_operations_settings(env),
            **_edge_settings(env, app_id),
        )


_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_MAILBOX = re.compile(r"^[^@\s/?#]+@[^@\s/?#]+\.[^@\s/?#]+$")


def _guid(
    env: Mapping[str, str], name: str, default: str = "", *, check_default: bool = True
) -> str:
    explicit = _str(env, name)
    value = explicit or default
    if value and (explicit or check_default) and not _GUID.fullmatch(value):
        raise ConfigError(f"{name} must be a GUID, got {value!r}")
    return value.lower() if _GUID.fullmatch(value) else value


def _https(env: Mapping[str, str], name: str, default: str) -> str:
    value = _url(env, name, default)
    if not value.startswith("https://"):
        raise ConfigError(f"{name} must be an https URL, got {value!r}")
    return value


def _file(env: Mapping[str, str], name: str) -> Path | None:
    value = _str(env, name)
    if not value:
        return None
    path = Path(value)
    if not path.is_file():
        raise ConfigError(f"{name} must name a readable file, got {value!r}")
    return path


def _graph_settings(
    env: Mapping[str, str], app_id: str, app_password: str, app_tenant_id: str
) -> dict[str, Any]:
    """Microsoft Graph, login and Defender settings; the credentials default to the bot's own."""
    backend = _str(env, "TENANT_BACKEND", "demo").lower()
    certificate = _file(env, "GRAPH_CLIENT_CERTIFICATE")
    explicit_secret = _str(env, "GRAPH_CLIENT_SECRET")
    if certificate is not None and explicit_secret:
        raise ConfigError("Set GRAPH_CLIENT_SECRET or GRAPH_CLIENT_CERTIFICATE, not both")
    secret = "" if certificate is not None else (explicit_secret or app_password)
    values: dict[str, Any] = {
        "graph_tenant_id": _guid(
            env, "GRAPH_TENANT_ID", app_tenant_id, check_default=backend == "graph"
        ),
        "graph_client_id": _guid(env, "GRAPH_CLIENT_ID", app_id, check_default=backend == "graph"),
        "graph_client_secret": secret,
        "graph_client_certificate": certificate,
        "graph_endpoint": _https(env, "GRAPH_ENDPOINT", "https://graph.microsoft.com"),
        "authority_host": _https(env, "AUTHORITY_HOST", "https://login.microsoftonline.com"),
        "security_api_endpoint": _https(
            env, "SECURITY_API_ENDPOINT", "https://api.security.microsoft.com"
        ),
        "ssl_cert_file": _file(env, "SSL_CERT_FILE"),
        "requests_ca_bundle": _file(env, "REQUESTS_CA_BUNDLE"),
        "teams_app_catalog_id": _str(env, "TEAMS_APP_CATALOG_ID"),
        "mail_sender": _str(env, "MAIL_SENDER"),
        "high_value_users_group_id": _guid(env, "HIGH_VALUE_USERS_GROUP_ID"),
        "teams_operation_poll_seconds": _float(
            env, "TEAMS_OPERATION_POLL_SECONDS", 30.0, low=0.0, high=3600.0
        ),
    }
    catalog_id = values["teams_app_catalog_id"]
    if catalog_id and not re.fullmatch(r"[A-Za-z0-9._\-]{1,128}", catalog_id):
        raise ConfigError(f"TEAMS_APP_CATALOG_ID must be a Teams app id, got {catalog_id!r}")
    sender = values["mail_sender"]
    if sender and not (_MAILBOX.fullmatch(sender) or _GUID.fullmatch(sender)):
        raise ConfigError(
            f"MAIL_SENDER must be a mailbox address or user object id, got {sender!r}"
        )
    if backend == "graph":
        if not values["graph_tenant_id"]:
            raise ConfigError(
                "GRAPH_TENANT_ID (or MicrosoftAppTenantId) is required when TENANT_BACKEND=graph"
            )
        if not values["graph_client_id"]:
            raise ConfigError(
                "GRAPH_CLIENT_ID (or MicrosoftAppId) is required when TENANT_BACKEND=graph"
            )
        if certificate is None and not secret:
            raise ConfigError(
                "GRAPH_CLIENT_CERTIFICATE or GRAPH_CLIENT_SECRET (or MicrosoftAppPassword) is "
                "required when TENANT_BACKEND=graph"
            )
        if not catalog_id:
            raise ConfigError("TEAMS_APP_CATALOG_ID is required when TENANT_BACKEND=graph")
        if not sender:
            raise ConfigError("MAIL_SENDER is required when TENANT_BACKEND=graph")
    return values


def _notification_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """The Experts webhook secret and the delivery worker's limits."""
    secret = _str(env, "EXPERTS_WEBHOOK_SECRET")
    if secret:
        try:
            decode_secret(secret)
        except ValueError as exc:
            raise ConfigError(f"EXPERTS_WEBHOOK_SECRET {exc}") from None
    return {
        "experts_webhook_secret": secret,
        "notify_max_attempts": _int(env, "NOTIFY_MAX_ATTEMPTS", 10, low=1, high=100),
        "notify_tenant_rps": _int(env, "NOTIFY_TENANT_RPS", 50, low=1, high=50),
        "notify_retention_days": _int(env, "NOTIFY_RETENTION_DAYS", 90, low=1, high=3650),
        "readiness_interval_hours": _int(env, "READINESS_INTERVAL_HOURS", 24, low=1, high=720),
    }


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _str(env, name).lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _operations_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """Running several instances: leases, logs, metrics, shutdown."""
    instance = _str(env, "INSTANCE_ID")
    if instance and not re.fullmatch(r"[A-Za-z0-9._:\-]{1,100}", instance):
        raise ConfigError(f"INSTANCE_ID must be 1-100 letters, digits or ._:-, got {instance!r}")
    return {
        "notify_lease_seconds": _float(env, "NOTIFY_LEASE_SECONDS", 300.0, low=1.0, high=3600.0),
        "log_format": _choice(env, "LOG_FORMAT", "text", ("text", "json")),
        "metrics_enabled": _bool(env, "METRICS_ENABLED", False),
        "instance_id": instance,
        "shutdown_grace_seconds": _float(env, "SHUTDOWN_GRACE_SECONDS", 20.0, low=0.0, high=600.0),
    }


def _chat_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """The virtual assistant's delay and the expert console's sign-in (OpenID Connect)."""
    client_id = _str(env, "CONSOLE_CLIENT_ID")
    values: dict[str, Any] = {
        "chat_ack_seconds": _float(env, "CHAT_ACK_SECONDS", 120.0, low=0.0, high=86_400.0),
        "console_client_id": client_id,
        "console_client_secret": _str(env, "CONSOLE_CLIENT_SECRET"),
        "console_experts_group_id": _str(env, "CONSOLE_EXPERTS_GROUP_ID"),
        "console_experts_tenant_id": _guid(env, "CONSOLE_EXPERTS_TENANT_ID"),
        "console_session_hours": _float(env, "CONSOLE_SESSION_HOURS", 8.0, low=0.1, high=24.0),
        "console_authority": "",
        "console_public_url": "",
    }
    if _str(env, "CONSOLE_PUBLIC_URL"):
        values["console_public_url"] = _url(env, "CONSOLE_PUBLIC_URL", "")
    if client_id:
        if not _str(env, "CONSOLE_AUTHORITY"):
            raise ConfigError(
                "CONSOLE_AUTHORITY (https://login.microsoftonline.com/<your tenant id>) is "
                "required when CONSOLE_CLIENT_ID is set"
            )
        values["console_authority"] = _https(env, "CONSOLE_AUTHORITY", "")
        if not values["console_client_secret"]:
            raise ConfigError("CONSOLE_CLIENT_SECRET is required when CONSOLE_CLIENT_ID is set")
        if not (values["console_experts_group_id"] or values["console_experts_tenant_id"]):
            raise ConfigError(
                "CONSOLE_EXPERTS_GROUP_ID or CONSOLE_EXPERTS_TENANT_ID is required when "
                "CONSOLE_CLIENT_ID is set: it says who is an expert"
            )
        if not values["console_public_url"]:
            raise ConfigError(
                "CONSOLE_PUBLIC_URL (the console's address, for the sign-in redirect) is "
                "required when CONSOLE_CLIENT_ID is set"
            )
    return values


_LOOPBACK = ("localhost", "::1", "[::1]")


def _is_loopback(host: str) -> bool:
    return host.lower() in _LOOPBACK or host.startswith("127.")


def _edge_settings(env: Mapping[str, str], app_id: str) -> dict[str, Any]:
    """Token validation, server limits, and where an anonymous (local mode) bot may listen."""
    host = _str(env, "HOST", "127.0.0.1") or "127.0.0.1"
    allow = _str(env, "ALLOW_ANONYMOUS_ON_NETWORK").lower()
    if allow not in ("", "true", "false"):
        raise ConfigError(f"ALLOW_ANONYMOUS_ON_NETWORK must be true or false, got {allow!r}")
    if not app_id and not _is_loopback(host) and allow != "true":
        raise ConfigError(
            f"HOST={host} would expose the anonymous local mode to the network: set "
            "MicrosoftAppId (and MicrosoftAppPassword), or ALLOW_ANONYMOUS_ON_NETWORK=true "
            "if you really mean to"
        )
    return {
        "bot_openid_metadata": _https(env, "BOT_OPENID_METADATA", "https://x")
        if _str(env, "BOT_OPENID_METADATA")
        else "",
        "bot_openid_timeout": _float(env, "BOT_OPENID_TIMEOUT", 10.0, low=0.1, high=60.0),
        "header_timeout": _float(env, "HEADER_TIMEOUT_SECONDS", 20.0, low=0.1, high=300.0),
        "body_timeout": _float(env, "BODY_TIMEOUT_SECONDS", 30.0, low=0.1, high=300.0),
        "max_connections": _int(env, "MAX_CONNECTIONS", 512, low=1, high=100_000),
        "allow_anonymous_on_network": allow == "true",
    }


__all__ = ["Settings"]
