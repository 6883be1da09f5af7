"""Build the Teams app package: ``python -m bot manifest [--out build/defender-experts.zip]``.

The template ``bot/teamsapp/manifest.json`` holds ``${{APP_ID}}``, ``${{BOT_ID}}`` and
``${{BOT_DOMAIN}}``; they are filled from ``MicrosoftAppId`` and the host of ``BOT_ENDPOINT``,
and the package is the filled manifest plus the two icons at the root of a zip file.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from bot.config import read_bot_endpoint
from bot.errors import ConfigError
from bot.teamsapp import TEMPLATE_DIR

ICONS = ("color.png", "outline.png")
DEFAULT_OUT = Path("build") / "defender-experts.zip"

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_PLACEHOLDER = re.compile(r"\$\{\{([A-Za-z0-9_]+)\}\}")
_ZIP_TIME = (2024, 1, 1, 0, 0, 0)  # fixed, so the same inputs give the same bytes


class ManifestError(ValueError):
    """The package cannot be built; the message names the offending setting."""


def is_guid(value: str) -> bool:
    """True if ``value`` is a GUID such as ``00000000-0000-0000-0000-000000000000``."""
    return _GUID.fullmatch(value) is not None


def endpoint_domain(bot_endpoint: str) -> str:
    """The host name of the bot's messaging endpoint, as ``validDomains`` wants it."""
    parsed = urlparse(bot_endpoint.strip())
    if parsed.scheme != "https" or not parsed.hostname:
        raise ManifestError(
            f"BOT_ENDPOINT must be an https URL such as "
            f"https://bot.example.com/api/messages, got {bot_endpoint!r}"
        )
    return parsed.hostname


def fill_template(template: str, values: Mapping[str, str]) -> dict[str, Any]:
    """Replace every ``${{NAME}}`` in the JSON text ``template`` and parse the result."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise ManifestError(f"manifest template placeholder ${{{{{name}}}}} has no value")
        return json.dumps(values[name])[1:-1]  # escaped for use inside a JSON string

    manifest = json.loads(_PLACEHOLDER.sub(replace, template))
    if not isinstance(manifest, dict):
        raise ManifestError("manifest template must be a JSON object")
    return manifest


def render_manifest(
    *, app_id: str, bot_endpoint: str, template_dir: Path = TEMPLATE_DIR
) -> dict[str, Any]:
    """The filled manifest: app id and bot id are ``app_id``; ``validDomains`` is the endpoint
    host. Raises ManifestError if ``app_id`` is not a GUID or the endpoint is not a URL."""
    app_id = app_id.strip()
    if not is_guid(app_id):
        raise ManifestError(
            f"MicrosoftAppId must be the bot's Microsoft App ID, a GUID, got {app_id!r}"
        )
    template = (template_dir / "manifest.json").read_text(encoding="utf-8")
    return fill_template(
        template,
        {"APP_ID": app_id, "BOT_ID": app_id, "BOT_DOMAIN": endpoint_domain(bot_endpoint)},
    )


def build_package(
    out: Path, *, app_id: str, bot_endpoint: str, template_dir: Path = TEMPLATE_DIR
) -> Path:
    """Write the app package zip (``manifest.json``, ``color.png``, ``outline.png`` at its root)
    to ``out`` and return ``out``."""
    manifest = render_manifest(app_id=app_id, bot_endpoint=bot_endpoint, template_dir=template_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as package:
        entries = [("manifest.json", (json.dumps(manifest, indent=2) + "\n").encode())]
        entries += [(icon, (template_dir / icon).read_bytes()) for icon in ICONS]
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            package.writestr(info, data)
    partial.replace(out)
    return out


def main(argv: Sequence[str], env: Mapping[str, str] | None = None) -> int:
    """``python -m bot manifest [--out PATH]``: build the package from the environment."""
    env = os.environ if env is None else env
    parser = argparse.ArgumentParser(
        prog="python -m bot manifest",
        description="Build the Teams app package from MicrosoftAppId and BOT_ENDPOINT.",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"zip to write (default {DEFAULT_OUT})"
    )
    args = parser.parse_args(list(argv))
    app_id = env.get("MicrosoftAppId", "").strip()
    try:
        endpoint = read_bot_endpoint(env)
    except ConfigError as error:
        print(f"manifest: {error}", file=sys.stderr)
        return 2
    if not app_id:
        print(
            "manifest: MicrosoftAppId is not set: set it to the bot's Microsoft App ID (a GUID)",
            file=sys.stderr,
        )
        return 2
    if not endpoint:
        print(
            "manifest: BOT_ENDPOINT is not set: set it to the bot's public messaging endpoint, "
            "e.g. https://bot.example.com/api/messages",
            file=sys.stderr,
        )
        return 2
    try:
        out = build_package(args.out, app_id=app_id, bot_endpoint=endpoint)
    except ManifestError as error:
        print(f"manifest: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"manifest: cannot write the package: {error}", file=sys.stderr)
        return 1
    print(f"wrote {out}: upload it in Teams (Apps > Manage your apps > Upload an app)")
    return 0
