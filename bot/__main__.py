"""``python -m bot`` serves the bot; ``python -m bot playground|manifest|notify`` are dev tools.

Every command has its own ``--help``: ``serve``'s is here, the tools' come from their modules.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
from collections.abc import Sequence

from bot.errors import ConfigError

TOOLS: dict[str, tuple[str, str]] = {
    "playground": (
        "bot.devtools.playground",
        "open the bot in the Microsoft 365 Agents Playground (an offline Teams client)",
    ),
    "manifest": ("bot.devtools.manifest", "build the Teams app package (zip)"),
    "notify": (
        "bot.devtools.notify",
        "play the experts: send signed notifications to the Experts API, read delivery state",
    ),
    "report": (
        "bot.devtools.report",
        "email the service report to the service review contacts now",
    ),
    "migrate": (
        "bot.storage.copy_to_postgres",
        "copy this bot's SQLite data into an empty PostgreSQL database (--to postgresql://...)",
    ),
}
"""Commands handled by a module's ``main(argv) -> int``, which parses (and documents) its own
arguments."""

SERVE_HELP = """\
Serve the bot: POST /api/messages (Bot Framework), the Experts API (/api/notifications,
/api/events), GET /healthz. It prints the address it listens on.

Settings come from the environment (.env.example lists them all), among them:
  HOST, PORT                 where to listen (default 127.0.0.1:3978)
  BOT_DATA_DIR               local data: SQLite, .eml mail, the local Experts API secret
                             (default .data)
  MicrosoftAppId, ...        bot credentials; with none set the bot runs in local mode and
                             accepts anonymous requests (the Agents Playground)
  TENANT_BACKEND             demo (the bundled Contoso tenant, default) or graph
  EXPERTS_WEBHOOK_SECRET     the Experts API's signing secret; in local mode with the demo
                             tenant one is made and kept in BOT_DATA_DIR when it isn't set
"""


def serve() -> int:
    # Start-up imports a few thousand classes and functions that live as long as the process:
    # the cyclic garbage collector would walk them again and again while they load (about a
    # tenth of the start-up time), and find nothing to free. It is off while they load, then
    # they are moved out of its sight (gc.freeze) and it is on again before serving.
    gc.disable()
    try:
        from bot.config import Settings
        from bot.logcontext import configure_logging
        from bot.notifications.local_secret import applies, secret_path, with_local_secret
        from bot.transport.web import run
    finally:
        gc.freeze()
        gc.enable()

    try:
        env_settings = Settings.from_env()
        settings = with_local_secret(env_settings)
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
    if applies(env_settings):
        print(
            f"Experts API secret: {secret_path(settings)} ('python -m bot notify' signs with it)",
            flush=True,
        )
    configure_logging(settings.log_level, settings.log_format)
    try:
        run(settings)
    except ConfigError as exc:  # found at start-up: the database can't be used, for example
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m bot",
        description="Defender Experts for Teams: the bot and its local tools.",
        epilog="Without a command, 'serve' runs. 'python -m bot COMMAND --help' explains each.",
    )
    commands = top.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser(
        "serve",
        help="serve the bot (the default)",
        description=SERVE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for name, (_module, summary) in TOOLS.items():
        # The tool parses its own arguments (and answers its own --help).
        commands.add_parser(name, help=summary, add_help=False)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in TOOLS:
        module = importlib.import_module(TOOLS[args[0]][0])
        return int(module.main(args[1:]))
    parsed = parser().parse_args(args)
    if parsed.command in (None, "serve"):
        return serve()
    return 2  # pragma: no cover - argparse refuses unknown commands


if __name__ == "__main__":
    sys.exit(main())
