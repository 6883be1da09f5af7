"""The chat's settings: the console's sign-in is OIDC or, in local mode only, the development
sign-in; bad values stop start-up with a message naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import open_storage
from bot.config import Settings
from bot.errors import ConfigError
from bot.transport.web import create_app
from tests.chat.support import ClientFactory

OIDC = {
    "CONSOLE_CLIENT_ID": "console-app",
    "CONSOLE_CLIENT_SECRET": "s",
    "CONSOLE_AUTHORITY": "https://login.microsoftonline.com/72f988bf-0000-4a6f-9c0e-7d1b2a3c4e99",
    "CONSOLE_EXPERTS_GROUP_ID": "g",
    "CONSOLE_PUBLIC_URL": "https://console.mdr.example",
}


def test_defaults_and_the_development_sign_in_only_in_local_mode() -> None:
    local = Settings.from_env({})
    assert local.chat_ack_seconds == 120.0 and local.console_dev_sign_in
    hosted = Settings.from_env({"MicrosoftAppId": "app", "MicrosoftAppPassword": "pw"})
    assert not hosted.console_dev_sign_in and not hosted.console_oidc
    assert not Settings.from_env(OIDC).console_dev_sign_in


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ("CONSOLE_AUTHORITY", "CONSOLE_AUTHORITY"),
        ("CONSOLE_CLIENT_SECRET", "CONSOLE_CLIENT_SECRET"),
        ("CONSOLE_EXPERTS_GROUP_ID", "CONSOLE_EXPERTS_GROUP_ID"),
        ("CONSOLE_PUBLIC_URL", "CONSOLE_PUBLIC_URL"),
    ],
)
def test_an_incomplete_oidc_configuration_names_what_is_missing(missing: str, named: str) -> None:
    env = {k: v for k, v in OIDC.items() if k != missing}
    with pytest.raises(ConfigError, match=named):
        Settings.from_env(env)


def test_bad_values_name_the_variable() -> None:
    with pytest.raises(ConfigError, match="CHAT_ACK_SECONDS"):
        Settings.from_env({"CHAT_ACK_SECONDS": "soon"})
    with pytest.raises(ConfigError, match="CONSOLE_AUTHORITY"):
        Settings.from_env({**OIDC, "CONSOLE_AUTHORITY": "http://login.example/t"})


async def test_no_development_sign_in_when_microsoft_app_id_is_set(
    aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, app_id="app", app_password="pw")
    client = await aiohttp_client(create_app(settings, storage=open_storage("memory://")))
    response = await client.post("/console/auth/dev", data={"expert": "demo-expert-1"})
    assert response.status == 404
    assert (await client.get("/console/sign-in")).status == 404
