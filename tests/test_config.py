from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings
from bot.errors import ConfigError


def test_defaults_are_local_mode() -> None:
    s = Settings.from_env({})
    assert s.local_mode
    assert s.port == 3978
    assert s.data_dir == Path(".data")
    assert s.resolved_storage_url == "sqlite:///.data/bot.sqlite3"
    assert s.tenant_backend == "demo"


def test_credentials_turn_off_local_mode() -> None:
    s = Settings.from_env(
        {"MicrosoftAppId": "9e7b2c41-3f6d-4a8e-b5c2-1d0f7a6e8b93", "MicrosoftAppPassword": "pw"}
    )
    assert not s.local_mode
    assert "pw" not in repr(s)


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"PORT": "http"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"MicrosoftAppId": "9e7b2c41-3f6d-4a8e-b5c2-1d0f7a6e8b93"}, "MicrosoftAppPassword"),
        ({"MicrosoftAppPassword": "pw"}, "MicrosoftAppId"),
        ({"MicrosoftAppType": "Anything"}, "MicrosoftAppType"),
        (
            {
                "MicrosoftAppId": "a",
                "MicrosoftAppPassword": "b",
                "MicrosoftAppType": "SingleTenant",
            },
            "MicrosoftAppTenantId",
        ),
        ({"STORAGE_URL": "mysql://x"}, "STORAGE_URL"),
        ({"STORAGE_URL": "UseDevelopmentStorage=true"}, "STORAGE_URL"),
        ({"TENANT_BACKEND": "ldap"}, "TENANT_BACKEND"),
        ({"LOG_LEVEL": "chatty"}, "LOG_LEVEL"),
        ({"BOT_ENDPOINT": "ftp://x"}, "BOT_ENDPOINT"),
        ({"CONNECTOR_RETRY_ATTEMPTS": "0"}, "CONNECTOR_RETRY_ATTEMPTS"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError, match=names):
        Settings.from_env(env)


def test_allow_list_is_normalized() -> None:
    s = Settings.from_env({"TENANT_ALLOW_LIST": " AbC , ,def"})
    assert s.tenant_allow_list == ("abc", "def")


def test_python_m_bot_reports_config_errors(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.__main__ import main

    monkeypatch.setenv("PORT", "nope")
    assert main([]) == 2
    assert "PORT must be an integer" in capsys.readouterr().err
