"""One validated, frozen settings object, loaded from the environment at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from bot.errors import ConfigError

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
    storage_url: str = ""
    tenant_backend: str = "demo"
    demo_tenant_file: Path | None = None
    tenant_allow_list: tuple[str, ...] = ()
    bot_endpoint: str = "https://localhost:3978/api/messages"
    log_level: str = "INFO"
    connector_retry_attempts: int = 4
    max_request_bytes: int = 262_144

    @property
    def local_mode(self) -> bool:
        """True when no bot credentials are configured: anonymous requests are accepted."""
        return not self.app_id

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
        if storage_url and not (
            storage_url.startswith("sqlite:///")
            or "AccountName=" in storage_url
            or storage_url.startswith("UseDevelopmentStorage=")
        ):
            raise ConfigError(
                "STORAGE_URL must be sqlite:///<path> or an Azure Storage connection string"
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
            bot_endpoint=_url(env, "BOT_ENDPOINT", "https://localhost:3978/api/messages"),
            log_level=log_level,
            connector_retry_attempts=_int(env, "CONNECTOR_RETRY_ATTEMPTS", 4, low=1, high=10),
            max_request_bytes=_int(env, "MAX_REQUEST_BYTES", 262_144, low=1024, high=10_485_760),
        )


__all__ = ["Settings"]
