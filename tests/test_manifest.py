"""The Teams app package: schema-valid manifest, well-formed icons, refused bad settings."""

from __future__ import annotations

import importlib.util
import json
import re
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator, Draft7Validator, validators  # type: ignore[import-untyped]
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource, Unresolvable

from bot.devtools.manifest import (
    ManifestError,
    build_package,
    main,
    render_manifest,
)
from bot.teamsapp import TEMPLATE_DIR

REPO = Path(__file__).resolve().parents[1]
SCHEMAS = REPO / "node_modules" / "@microsoft" / "app-manifest" / "build" / "json-schemas" / "teams"
APP_ID = "5d1b7c3e-2a4f-4b6d-8e9f-0a1b2c3d4e5f"
ENDPOINT = "https://bot.contoso.example/api/messages"

# The Teams schemas declare draft-04, which has no "const"; the schemas use it for
# manifestVersion, so borrow draft-07's implementation to really check it.
TeamsValidator = validators.extend(Draft4Validator, {"const": Draft7Validator.VALIDATORS["const"]})


def _refuse(uri: str) -> Resource[Any]:
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]  # never fetch a remote $ref


def official_schema(manifest: dict[str, Any]) -> dict[str, Any]:
    match = re.search(r"/teams/(v1\.\d+)/MicrosoftTeams\.schema\.json$", manifest["$schema"])
    assert match, f"unexpected $schema {manifest['$schema']}"
    path = SCHEMAS / match.group(1) / "MicrosoftTeams.schema.json"
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `npm ci` (tests/run_all.sh does) before the tests")
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8-sig"))
    return schema


def validate(manifest: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    validator = TeamsValidator(
        schema,
        registry=Registry(retrieve=_refuse),  # type: ignore[call-arg]
        format_checker=Draft4Validator.FORMAT_CHECKER,
    )
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(manifest)
    ]


@pytest.fixture
def package(tmp_path: Path) -> zipfile.ZipFile:
    out = build_package(tmp_path / "out" / "app.zip", app_id=APP_ID, bot_endpoint=ENDPOINT)
    assert out == tmp_path / "out" / "app.zip"
    return zipfile.ZipFile(out)


def read_manifest(package: zipfile.ZipFile) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads(package.read("manifest.json"))
    return manifest


def test_package_holds_manifest_and_icons_at_its_root(package: zipfile.ZipFile) -> None:
    assert sorted(package.namelist()) == ["color.png", "manifest.json", "outline.png"]
    assert package.testzip() is None
    for icon in ("color.png", "outline.png"):
        assert package.read(icon) == (TEMPLATE_DIR / icon).read_bytes()


def test_filled_manifest_is_valid_against_the_official_schema(package: zipfile.ZipFile) -> None:
    manifest = read_manifest(package)
    schema = official_schema(manifest)
    assert validate(manifest, schema) == []
    assert manifest["manifestVersion"] == schema["properties"]["manifestVersion"]["const"]


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(n) for n in name.removeprefix("v").split("."))


def test_the_manifest_is_on_the_newest_schema_the_package_ships(package: zipfile.ZipFile) -> None:
    """v1.30 as of @microsoft/app-manifest 1.1.2: from v1.22 it only adds optional properties
    (command ``type``/``prompt``, ``triggers``, ``description.features``, ``registrationInfo``)
    and raises limits, so nothing the manifest says changes meaning."""
    manifest = read_manifest(package)
    official_schema(manifest)  # skips, or fails in CI, without `npm ci`
    shipped = [d.name for d in SCHEMAS.iterdir() if re.fullmatch(r"v\d+\.\d+", d.name)]
    newest = max(shipped, key=_version)
    assert manifest["manifestVersion"] == newest.removeprefix("v")
    assert f"/teams/{newest}/MicrosoftTeams.schema.json" in manifest["$schema"]


def test_validation_really_checks(package: zipfile.ZipFile) -> None:
    manifest = read_manifest(package)
    schema = official_schema(manifest)
    broken = json.loads(json.dumps(manifest))
    broken["accentColor"] = "dark blue"
    broken["manifestVersion"] = "1.0"
    broken["bots"][0]["botId"] = "${{BOT_ID}}"
    del broken["developer"]["privacyUrl"]
    errors = validate(broken, schema)
    assert len(errors) == 4, errors


def test_remote_refs_are_refused_not_fetched() -> None:
    schema = {"properties": {"a": {"$ref": "https://schemas.example.com/remote.json"}}}
    with pytest.raises(Unresolvable):
        validate({"a": 1}, schema)


def test_manifest_content(package: zipfile.ZipFile) -> None:
    text = package.read("manifest.json").decode()
    assert "${{" not in text
    manifest = json.loads(text)
    assert manifest["id"] == APP_ID
    assert manifest["name"]["short"] == "Defender Experts"
    assert manifest["validDomains"] == ["bot.contoso.example"]
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}
    assert all(
        url.startswith("https://")
        for key, url in manifest["developer"].items()
        if key.endswith("Url")
    )
    [bot] = manifest["bots"]
    assert bot["botId"] == APP_ID
    assert bot["scopes"] == ["personal", "team"]
    assert bot["supportsFiles"] is False
    assert bot["isNotificationOnly"] is False
    [commands] = bot["commandLists"]
    assert commands["scopes"] == ["personal"]
    described = {c["title"]: c["description"] for c in commands["commands"]}
    assert set(described) == {"setup", "settings", "help", "readiness", "report"}
    assert described["readiness"] == "Run the readiness assessment"
    assert described["report"] == "View the service report"


def test_template_has_exactly_the_documented_placeholders() -> None:
    template = (TEMPLATE_DIR / "manifest.json").read_text(encoding="utf-8")
    assert set(re.findall(r"\$\{\{(\w+)\}\}", template)) == {"APP_ID", "BOT_ID", "BOT_DOMAIN"}


def test_endpoint_port_and_path_are_not_part_of_the_domain() -> None:
    manifest = render_manifest(app_id=APP_ID, bot_endpoint="https://Bot.Example.com:8443/x/y")
    assert manifest["validDomains"] == ["bot.example.com"]


@pytest.mark.parametrize(
    "app_id",
    [
        "",
        "not-a-guid",
        "5d1b7c3e2a4f4b6d8e9f0a1b2c3d4e5f",
        f"{{{APP_ID}}}",
        APP_ID + "0",
        APP_ID[:-1] + "g",
        '5d1b7c3e-2a4f-4b6d-8e9f-0a1b2c3d4e5f", "x": "',
    ],
)
def test_bad_app_id_is_refused(tmp_path: Path, app_id: str) -> None:
    out = tmp_path / "app.zip"
    with pytest.raises(ManifestError, match="MicrosoftAppId"):
        build_package(out, app_id=app_id, bot_endpoint=ENDPOINT)
    assert not out.exists()


@pytest.mark.parametrize(
    "endpoint", ["", "bot.example.com", "http://bot.example.com/api/messages", "https:///x"]
)
def test_bad_endpoint_is_refused(tmp_path: Path, endpoint: str) -> None:
    with pytest.raises(ManifestError, match="BOT_ENDPOINT"):
        build_package(tmp_path / "app.zip", app_id=APP_ID, bot_endpoint=endpoint)


def test_cli_names_the_missing_or_bad_app_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "app.zip"
    assert main(["--out", str(out)], env={"BOT_ENDPOINT": ENDPOINT}) == 2
    assert "MicrosoftAppId" in capsys.readouterr().err
    assert main(["--out", str(out)], env={"MicrosoftAppId": "x", "BOT_ENDPOINT": ENDPOINT}) == 2
    assert "MicrosoftAppId" in capsys.readouterr().err
    assert main(["--out", str(out)], env={"MicrosoftAppId": APP_ID}) == 2
    assert "BOT_ENDPOINT" in capsys.readouterr().err
    assert not out.exists()
    assert main(["--out", str(out)], env={"MicrosoftAppId": APP_ID, "BOT_ENDPOINT": ENDPOINT}) == 0
    assert read_manifest(zipfile.ZipFile(out))["id"] == APP_ID


def test_package_bytes_are_reproducible(tmp_path: Path) -> None:
    first = build_package(tmp_path / "a.zip", app_id=APP_ID, bot_endpoint=ENDPOINT)
    second = build_package(tmp_path / "b.zip", app_id=APP_ID, bot_endpoint=ENDPOINT)
    assert first.read_bytes() == second.read_bytes()


# --- icons -----------------------------------------------------------------------------------


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and RGBA rows of an 8-bit RGBA, non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    offset, chunks = 8, []
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r}"
        chunks.append((kind, body))
        offset += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height, depth, color_type, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, color_type, interlace) == (8, 6, 0), "expected 8-bit RGBA, not interlaced"
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride, rows, previous = width * 4, [], bytes(width * 4)
    for y in range(height):
        filter_type = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - 4] if i >= 4 else 0
            up = previous[i]
            up_left = previous[i - 4] if i >= 4 else 0
            if filter_type == 1:
                line[i] = (line[i] + left) & 0xFF
            elif filter_type == 2:
                line[i] = (line[i] + up) & 0xFF
            elif filter_type == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif filter_type == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                predictor = left if pa <= pb and pa <= pc else up if pb <= pc else up_left
                line[i] = (line[i] + predictor) & 0xFF
            else:
                assert filter_type == 0, f"unknown filter {filter_type}"
        rows.append(bytes(line))
        previous = bytes(line)
    return width, height, rows


def alphas(rows: list[bytes]) -> list[int]:
    return [row[i + 3] for row in rows for i in range(0, len(row), 4)]


def test_color_icon_is_192_square_and_opaque(package: zipfile.ZipFile) -> None:
    width, height, rows = decode_png(package.read("color.png"))
    assert (width, height) == (192, 192)
    assert set(alphas(rows)) == {255}
    colors = {row[i : i + 3] for row in rows for i in range(0, len(row), 4)}
    assert len(colors) > 2  # a picture, not a flat square
    assert rows[0][:3] == bytes.fromhex("0B2E59")  # the accent colour as background


def test_outline_icon_is_32_square_white_on_transparent(package: zipfile.ZipFile) -> None:
    width, height, rows = decode_png(package.read("outline.png"))
    assert (width, height) == (32, 32)
    values = alphas(rows)
    assert values.count(0) > len(values) // 2  # mostly transparent
    assert values.count(255) > 20  # with a solid outline
    for row in rows:
        for i in range(0, len(row), 4):
            if row[i + 3]:
                assert row[i : i + 3] == b"\xff\xff\xff", "outline pixels must be white"
    corners = [rows[0][3], rows[0][-1], rows[-1][3], rows[-1][-1]]
    assert corners == [0, 0, 0, 0]


def test_committed_icons_match_their_generator(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_icons", TEMPLATE_DIR / "make_icons.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(tmp_path) == 0
    for icon in ("color.png", "outline.png"):
        assert (tmp_path / icon).read_bytes() == (TEMPLATE_DIR / icon).read_bytes(), icon
