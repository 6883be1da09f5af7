"""The Experts API secret a local run keeps in its data directory, and only a local run."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings
from bot.errors import ConfigError
from bot.notifications.local_secret import (
    SECRET_FILE,
    read_local_secret,
    with_local_secret,
)
from bot.notifications.signing import decode_secret, new_secret


def settings(data: Path, **env: str) -> Settings:
    return Settings.from_env({"BOT_DATA_DIR": str(data), **env})


def test_a_local_run_makes_one_secret_and_keeps_it(tmp_path: Path) -> None:
    first = with_local_secret(settings(tmp_path))
    assert decode_secret(first.experts_webhook_secret)
    kept = tmp_path / SECRET_FILE
    assert kept.stat().st_mode & 0o777 == 0o600
    again = with_local_secret(settings(tmp_path))
    assert again.experts_webhook_secret == first.experts_webhook_secret
    assert read_local_secret(settings(tmp_path)) == first.experts_webhook_secret


def test_a_set_secret_wins_and_nothing_is_written(tmp_path: Path) -> None:
    mine = new_secret()
    got = with_local_secret(settings(tmp_path, EXPERTS_WEBHOOK_SECRET=mine))
    assert got.experts_webhook_secret == mine
    assert not (tmp_path / SECRET_FILE).exists()


@pytest.mark.parametrize(
    "env",
    [
        {"MicrosoftAppId": "00000000-0000-0000-0000-000000000001", "MicrosoftAppPassword": "x"},
        {
            "TENANT_BACKEND": "graph",
            "GRAPH_TENANT_ID": "00000000-0000-0000-0000-000000000002",
            "GRAPH_CLIENT_ID": "00000000-0000-0000-0000-000000000003",
            "GRAPH_CLIENT_SECRET": "x",
            "TEAMS_APP_CATALOG_ID": "00000000-0000-0000-0000-000000000004",
            "MAIL_SENDER": "soc@contoso.com",
        },
    ],
)
def test_never_outside_local_mode_with_the_demo_tenant(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / SECRET_FILE).write_text(new_secret())
    real = settings(tmp_path, **env)
    assert with_local_secret(real).experts_webhook_secret == ""
    assert read_local_secret(real) == ""


def test_a_damaged_file_is_a_clear_configuration_error(tmp_path: Path) -> None:
    (tmp_path / SECRET_FILE).write_text("not a secret")
    with pytest.raises(ConfigError, match="delete the file"):
        with_local_secret(settings(tmp_path))
