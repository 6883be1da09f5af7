"""``python -m bot`` serves the bot; ``python -m bot playground|manifest|notify`` are dev tools."""

from __future__ import annotations

import sys

from bot.errors import ConfigError


def serve() -> int:
    from bot.config import Settings
    from bot.logsafe import configure_logging
    from bot.transport.web import run

    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    try:
        run(settings)
    except ConfigError as exc:  # found at start-up: the database can't be used, for example
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "serve"
    if command == "serve":
        return serve()
    if command == "playground":
        from bot.devtools.playground import main as playground

        return int(playground(args[1:]))
    if command == "manifest":
        from bot.devtools.manifest import main as manifest

        return int(manifest(args[1:]))
    if command == "notify":
        from bot.devtools.notify import main as notify

        return int(notify(args[1:]))
    print("usage: python -m bot [serve|playground|manifest|notify]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
