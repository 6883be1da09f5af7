"""``python -m bot``: every command has a real ``--help``."""

from __future__ import annotations

import pytest

from bot.__main__ import TOOLS, main


def help_of(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    with pytest.raises(SystemExit) as done:
        main([*args, "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


def test_the_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_of(capsys)
    assert text.startswith("usage: python -m bot")
    for command in ("serve", *TOOLS):
        assert command in text


def test_serve_explains_where_it_listens_and_its_settings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = help_of(capsys, "serve")
    assert text.startswith("usage: python -m bot serve")
    for setting in ("PORT", "BOT_DATA_DIR", "MicrosoftAppId", "EXPERTS_WEBHOOK_SECRET"):
        assert setting in text


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_each_tool_answers_its_own_help(capsys: pytest.CaptureFixture[str], tool: str) -> None:
    text = help_of(capsys, tool)
    assert text.startswith(f"usage: python -m bot {tool}")
    assert "--help" in text and len(text.splitlines()) > 3


def test_an_unknown_command_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["nonsense"])
    assert done.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
