"""Run the Microsoft 365 Agents Playground as an offline Teams client for the local bot.

``python -m bot playground`` writes the Playground's mock-tenant file from the demo tenant and
replaces itself with ``agentsplayground`` in Teams mode, on loopback, with telemetry off.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from bot.tenant.demo import load_demo_tenant

CONFIG_VERSION = "0.1.1"
CONFIG_FILENAME = ".m365agentsplayground.yml"
DEFAULT_PORT = 56150
DEFAULT_BOT_URL = "http://127.0.0.1:3978/api/messages"
PLAYGROUND_BIN = Path("node_modules") / ".bin" / "agentsplayground"
NET_GUARD = Path("tests") / "tools" / "net-guard.js"
BOT_NAME_MAX = 42
PLAYGROUND_USER_COUNT = 5

# Without these the Playground opens a browser and phones home at start-up (see PLAYGROUND.md).
OFFLINE_ENV: Mapping[str, str] = {
    "TEAMSAPPTESTER_BROWSER": "none",
    "APPLICATION_INSIGHTS_NO_STATSBEAT": "true",
}


def _text(source: Mapping[str, Any], key: str, where: str) -> str:
    value = source.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"demo tenant: {where}.{key} must be a non-empty string")
    return value


def _mapping(source: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = source.get(key)
    if not isinstance(value, Mapping):
        raise ValueError(f"demo tenant: {where}.{key} must be an object")
    return value


def _user(user: Mapping[str, Any], where: str) -> dict[str, str]:
    return {
        "id": _text(user, "playgroundId", where),
        "name": _text(user, "displayName", where),
        "userPrincipleName": _text(user, "userPrincipalName", where),  # sic: the schema's spelling
        "aadObjectId": _text(user, "id", where),
        "givenName": _text(user, "givenName", where),
        "surname": _text(user, "surname", where),
        "email": _text(user, "mail", where),
    }


def _channels(team: Mapping[str, Any]) -> list[dict[str, str]]:
    raw = team.get("channels")
    if raw is None:
        raw = [team["channel"]] if isinstance(team.get("channel"), Mapping) else []
    if not isinstance(raw, list) or not all(isinstance(c, Mapping) for c in raw):
        raise ValueError("demo tenant: team.channels must be a list of objects")
    if len(raw) > 1:
        raise ValueError("demo tenant: the Playground supports at most one channel besides General")
    return [
        {"id": _text(c, "id", "team.channel"), "name": _text(c, "name", "team.channel")}
        for c in raw
    ]


def build_config(tenant: Mapping[str, Any], *, bot_name: str | None = None) -> dict[str, Any]:
    """Map the demo tenant onto the Playground's mock-tenant document (schema 0.1.1)."""
    bot = _mapping(tenant, "bot", "")
    name = bot_name if bot_name is not None else _text(bot, "name", "bot")
    if not name or len(name) > BOT_NAME_MAX:
        raise ValueError(f"bot name must be 1 to {BOT_NAME_MAX} characters, got {name!r}")
    current_id = _text(tenant, "currentUserId", "")
    users = tenant.get("users")
    if not isinstance(users, list) or not all(isinstance(u, Mapping) for u in users):
        raise ValueError("demo tenant: users must be a list of objects")
    current = [u for u in users if u.get("id") == current_id]
    others = [u for u in users if u.get("id") != current_id]
    if len(current) != 1:
        raise ValueError(f"demo tenant: currentUserId {current_id!r} must match exactly one user")
    if len(others) != PLAYGROUND_USER_COUNT:
        raise ValueError(
            f"demo tenant: the Playground needs exactly {PLAYGROUND_USER_COUNT} users besides "
            f"the current user, got {len(others)}"
        )
    team = _mapping(tenant, "team", "")
    group_chat = _mapping(tenant, "groupChat", "")
    config: dict[str, Any] = {
        "version": CONFIG_VERSION,
        "tenantId": _text(tenant, "tenantId", ""),
        "bot": {"id": _text(bot, "id", "bot"), "name": name},
        "currentUser": _user(current[0], "users[current]"),
        "users": [_user(u, f"users[{i}]") for i, u in enumerate(others)],
        "personalChat": {"id": _text(tenant, "personalChatId", "")},
        "groupChat": {
            "id": _text(group_chat, "id", "groupChat"),
            "name": _text(group_chat, "name", "groupChat"),
        },
        "team": {
            "id": _text(team, "id", "team"),
            "name": _text(team, "name", "team"),
            "aadGroupId": _text(team, "aadGroupId", "team"),
            "channels": _channels(team),
        },
    }
    _check_unique_ids(config)
    return config


def _check_unique_ids(config: Mapping[str, Any]) -> None:
    people = [config["currentUser"], *config["users"]]
    ids: list[str] = [
        config["bot"]["id"],
        config["personalChat"]["id"],
        config["groupChat"]["id"],
        config["team"]["id"],
        *(c["id"] for c in config["team"]["channels"]),
        *(p["id"] for p in people),
        *(p["aadObjectId"] for p in people),
    ]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"demo tenant: ids must be unique, repeated: {', '.join(duplicates)}")


def to_yaml(document: Mapping[str, Any]) -> str:
    """The document as block YAML (PyYAML's safe dumper, keys in the order given)."""
    return str(yaml.safe_dump(dict(document), sort_keys=False, allow_unicode=True))


def write_config(tenant: Mapping[str, Any], path: Path, *, bot_name: str | None = None) -> Path:
    """Write the Playground's ``.m365agentsplayground.yml`` for ``tenant`` to ``path``.

    ``path`` may be a directory, in which case the file is named ``.m365agentsplayground.yml``.
    Returns the file written. Raises ValueError if the tenant does not fit the Playground.
    """
    if path.is_dir():
        path = path / CONFIG_FILENAME
    text = "# Generated by bot.devtools.playground from the demo tenant; do not edit.\n" + to_yaml(
        build_config(tenant, bot_name=bot_name)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
    return path


def find_playground(start: Path | None = None) -> Path:
    """Return the ``agentsplayground`` launcher in the nearest ``node_modules`` above ``start``."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        candidate = folder / PLAYGROUND_BIN
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"{PLAYGROUND_BIN} was not found in {start} or any folder above it: "
        "run `npm ci` in the repository root first"
    )


def repo_root_of(launcher: Path) -> Path:
    """The folder holding the ``node_modules`` that ``launcher`` belongs to."""
    return launcher.parent.parent.parent


def node_options(guard: Path, existing: str = "") -> str:
    """``NODE_OPTIONS`` that preloads ``guard`` in addition to ``existing``."""
    target = str(guard)
    if any(c.isspace() or c in "\"'\\" for c in target):
        target = json.dumps(target)  # Node parses NODE_OPTIONS with double-quote escapes
    return f"{existing} --require {target}".strip()


def playground_env(
    config: Path,
    log_file: Path,
    *,
    guard: Path | None = None,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment to run the Playground offline with ``config`` and ``log_file``."""
    env = dict(os.environ if base is None else base)
    env.update(OFFLINE_ENV)
    env["M365_AGENTS_PLAYGROUND_CONFIG_PATH"] = str(config)
    env["M365_AGENTS_PLAYGROUND_LOGFILE"] = str(log_file)
    if guard is not None:
        env["NODE_OPTIONS"] = node_options(guard, env.get("NODE_OPTIONS", ""))
    return env


def playground_command(launcher: Path, bot_url: str, port: int) -> list[str]:
    """The ``agentsplayground`` command line for a Teams client on ``port``."""
    return [str(launcher), "-e", bot_url, "-c", "msteams", "--dt", "-p", str(port)]


def _port(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {raw!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be between 1 and 65535, got {value}")
    return value


def main(argv: Sequence[str]) -> int:
    """``python -m bot playground [--port N] [--bot-url URL]``: run the Playground for the bot."""
    parser = argparse.ArgumentParser(
        prog="python -m bot playground",
        description="Run the Microsoft 365 Agents Playground (offline Teams client) for the bot.",
    )
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT, help="Playground port")
    parser.add_argument("--bot-url", default=DEFAULT_BOT_URL, help="the bot's messaging endpoint")
    args = parser.parse_args(list(argv))
    try:
        launcher = find_playground()
        demo_file = os.environ.get("DEMO_TENANT_FILE", "").strip()
        tenant = load_demo_tenant(Path(demo_file) if demo_file else None)
        data_dir = Path(os.environ.get("BOT_DATA_DIR", "").strip() or ".data").resolve()
        config = write_config(tenant, data_dir / CONFIG_FILENAME)
    except (OSError, ValueError) as error:
        print(f"playground: {error}", file=sys.stderr)
        return 1
    guard = repo_root_of(launcher) / NET_GUARD
    env = playground_env(
        config,
        data_dir / "m365agentsplayground.log",
        guard=guard if guard.is_file() else None,
    )
    command = playground_command(launcher, args.bot_url, args.port)
    print(f"Agents Playground for {args.bot_url} (tenant file {config})")
    print(f"Open http://127.0.0.1:{args.port}/ (if the port is taken it prints the one it chose)")
    sys.stdout.flush()
    try:
        os.execve(launcher, command, env)  # noqa: S606 - the fixed, local launcher
    except OSError as error:
        print(f"playground: cannot run {launcher}: {error}", file=sys.stderr)
        return 1
    return 0  # pragma: no cover - execve does not return
