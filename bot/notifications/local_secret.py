"""The Experts API secret of a local run, kept in the data directory.

So that the README's local journey works on the first run: in local mode (no bot credentials)
with the bundled demo tenant and no ``EXPERTS_WEBHOOK_SECRET``, ``python -m bot`` makes a secret
once, keeps it in ``BOT_DATA_DIR/experts-webhook-secret`` (readable by its owner only), and
``python -m bot notify`` signs with the same file. A real deployment (bot credentials, or the
Graph tenant backend) never gets one this way: there the API stays off until the variable is set.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from bot.config import Settings
from bot.errors import ConfigError
from bot.notifications.signing import decode_secret, new_secret

SECRET_FILE = "experts-webhook-secret"  # noqa: S105 - a file name


def applies(settings: Settings) -> bool:
    """Whether a kept secret may stand in for EXPERTS_WEBHOOK_SECRET."""
    return (
        not settings.experts_webhook_secret
        and settings.local_mode
        and settings.tenant_backend == "demo"
    )


def secret_path(settings: Settings) -> Path:
    return settings.data_dir / SECRET_FILE


def read_local_secret(settings: Settings) -> str:
    """The kept secret, or "" if there is none (or none applies)."""
    if not applies(settings):
        return ""
    path = secret_path(settings)
    try:
        secret = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the local Experts API secret {path}: {exc}") from None
    try:
        decode_secret(secret)
    except ValueError as exc:
        raise ConfigError(
            f"the local Experts API secret {path} {exc}: delete the file to make a new one"
        ) from None
    return secret


def with_local_secret(settings: Settings) -> Settings:
    """``settings`` with the kept secret (made on first use) when one applies."""
    if not applies(settings):
        return settings
    secret = read_local_secret(settings)
    if not secret:
        path = secret_path(settings)
        secret = new_secret()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            return replace(settings, experts_webhook_secret=read_local_secret(settings))
        except OSError as exc:
            raise ConfigError(f"cannot keep the local Experts API secret {path}: {exc}") from None
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(secret + "\n")
            out.flush()
            os.fsync(out.fileno())
    return replace(settings, experts_webhook_secret=secret)
