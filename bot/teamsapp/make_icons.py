"""Draw the app's Teams icons with the standard library only: ``python bot/teamsapp/make_icons.py``.

* ``color.png``: 192x192, a white-rimmed blue shield with a check mark on the accent colour.
* ``outline.png``: 32x32, the same shield as a white outline on a transparent background.

Shapes are defined as point tests in unit coordinates and anti-aliased by supersampling.
"""

from __future__ import annotations

import math
import struct
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ACCENT = (0x0B, 0x2E, 0x59)  # the manifest's accentColor, #0B2E59
SHIELD = (0x1F, 0x6F, 0xC5)
WHITE = (0xFF, 0xFF, 0xFF)
SAMPLES = 4  # supersampling per axis

RGBA = tuple[int, int, int, int]
Shape = Callable[[float, float], bool]

# The shield: flat top with rounded shoulders, straight sides, sides curving to a point.
TOP, SHOULDER, WAIST, TIP = 0.12, 0.22, 0.50, 0.90
HALF_WIDTH = 0.36


def _half_width(y: float, inset: float) -> float:
    """Half the shield's width at height ``y``, shrunk by ``inset``; negative outside."""
    top, tip = TOP + inset, TIP - inset * 1.8
    if y < top or y > tip:
        return -1.0
    width = HALF_WIDTH - inset
    if y <= WAIST:
        return width
    t = (y - WAIST) / (tip - WAIST)
    return width * math.pow(math.cos(t * math.pi / 2), 0.85)


def _in_shield(x: float, y: float, inset: float = 0.0) -> bool:
    dx = abs(x - 0.5)
    half = _half_width(y, inset)
    if half < 0 or dx > half:
        return False
    # Rounded shoulders: cut the top corners with a quarter circle.
    radius = SHOULDER - TOP
    corner_x, corner_y = half - radius, TOP + inset + radius
    if dx > corner_x and y < corner_y:
        return math.hypot(dx - corner_x, y - corner_y) <= radius
    return True


def _near_segment(x: float, y: float, a: tuple[float, float], b: tuple[float, float]) -> float:
    ax, ay = a
    bx, by = b
    vx, vy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((x - ax) * vx + (y - ay) * vy) / (vx * vx + vy * vy)))
    return math.hypot(x - (ax + t * vx), y - (ay + t * vy))


CHECK = ((0.35, 0.50), (0.46, 0.62), (0.67, 0.38))


def _in_check(x: float, y: float, stroke: float) -> bool:
    return (
        _near_segment(x, y, CHECK[0], CHECK[1]) <= stroke / 2
        or _near_segment(x, y, CHECK[1], CHECK[2]) <= stroke / 2
    )


def _coverage(shape: Shape, px: int, py: int, size: int) -> float:
    hits = 0
    for sy in range(SAMPLES):
        for sx in range(SAMPLES):
            x = (px + (sx + 0.5) / SAMPLES) / size
            y = (py + (sy + 0.5) / SAMPLES) / size
            hits += shape(x, y)
    return hits / (SAMPLES * SAMPLES)


def _mix(under: tuple[int, int, int], over: tuple[int, int, int], amount: float) -> RGBA:
    r, g, b = (round(u + (o - u) * amount) for u, o in zip(under, over, strict=True))
    return (r, g, b, 255)


def color_icon(size: int = 192) -> list[list[RGBA]]:
    """Full-bleed accent background, white-rimmed shield, white check mark."""
    rim = 0.035
    rows: list[list[RGBA]] = []
    for py in range(size):
        row: list[RGBA] = []
        for px in range(size):
            outer = _coverage(lambda x, y: _in_shield(x, y), px, py, size)
            inner = _coverage(lambda x, y: _in_shield(x, y, rim), px, py, size)
            check = _coverage(lambda x, y: _in_check(x, y, 0.075), px, py, size)
            rgb = _mix(ACCENT, WHITE, outer)[:3]
            rgb = _mix(rgb, SHIELD, inner)[:3]
            row.append(_mix(rgb, WHITE, check))
        rows.append(row)
    return rows


def outline_icon(size: int = 32) -> list[list[RGBA]]:
    """White shield outline and check mark on a fully transparent background."""
    stroke = 2.0 / size

    def shape(x: float, y: float) -> bool:
        ring = _in_shield(x, y) and not _in_shield(x, y, stroke)
        return ring or _in_check(x, y, stroke * 1.1)

    return [
        [(*WHITE, round(255 * _coverage(shape, px, py, size))) for px in range(size)]
        for py in range(size)
    ]


def png_bytes(pixels: list[list[RGBA]]) -> bytes:
    """Encode rows of RGBA pixels as an 8-bit RGBA PNG (colour type 6), filter 0 per row."""
    height, width = len(pixels), len(pixels[0])
    raw = b"".join(b"\x00" + bytes(c for pixel in row for c in pixel) for row in pixels)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def main(out_dir: Path = HERE) -> int:
    for name, pixels in (("color.png", color_icon()), ("outline.png", outline_icon())):
        target = out_dir / name
        target.write_bytes(png_bytes(pixels))
        print(f"wrote {target} ({len(pixels[0])}x{len(pixels)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE))
