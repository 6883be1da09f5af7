"""``python -m bot report --email [--month YYYY-MM]``: email a month's service report to the
Service review contacts now (by default the current month so far), with the bot's settings.
The monthly email still goes out on its own; this doesn't count as it."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime

from bot.errors import ConfigError, ValidationError
from bot.report.model import month_start, parse_date


async def _send(month: datetime) -> int:
    from bot.app import build_services
    from bot.config import Settings

    services = await build_services(Settings.from_env())
    try:
        assert services.report is not None
        return await services.report.send_monthly(month, once=False)
    finally:
        await services.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot report", description=__doc__)
    parser.add_argument("--email", action="store_true", help="email the report now")
    parser.add_argument("--month", help="YYYY-MM (default: this month so far)")
    args = parser.parse_args(argv)
    if not args.email:
        parser.print_help()
        return 2
    try:
        when = parse_date(f"{args.month}-01", "--month") if args.month else None
        month = (
            datetime(when.year, when.month, 1, tzinfo=UTC)
            if when
            else month_start(datetime.now(UTC))
        )
        sent = asyncio.run(_send(month))
    except (ConfigError, ValidationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not sent:
        print("No Service review contact with an email address: nothing sent.", file=sys.stderr)
        return 1
    print(f"Sent the report for {month:%B %Y} to {sent} service review contact(s).")
    return 0
