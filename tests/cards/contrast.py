"""WCAG 2 contrast of every text on a card against the background it's drawn on.

A text's colour and its container's background come from a host config
(``tests/cards/host_configs.py``): the container style in effect (a Container, Column,
ColumnSet or TableCell with a ``style`` sets it for everything inside; an ``Action.ShowCard``'s
card takes the host's show-card style), its ``foregroundColors[color].default|subtle`` and its
``backgroundColor``. Colours with alpha are composed over what is behind them, as a browser does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

MINIMUM = 4.5
_STYLED = {"Container", "Column", "ColumnSet", "TableCell", "Table"}
_INPUT_TEXT = {"Input.Toggle": ("title", "label"), "Input.Text": ("label",)}
RGB = tuple[float, float, float]


def parse(colour: str) -> tuple[RGB, float]:
    """``#RRGGBB`` or ``#AARRGGBB`` -> (rgb 0..255, alpha 0..1)."""
    h = colour.lstrip("#")
    if len(h) == 8:
        alpha, h = int(h[:2], 16) / 255, h[2:]
    elif len(h) == 6:
        alpha = 1.0
    else:
        raise ValueError(f"not a colour: {colour!r}")
    return (int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)), alpha


def over(colour: str, behind: RGB) -> RGB:
    """The colour seen when ``colour`` is drawn over the opaque ``behind``."""
    rgb, a = parse(colour)
    return (
        rgb[0] * a + behind[0] * (1 - a),
        rgb[1] * a + behind[1] * (1 - a),
        rgb[2] * a + behind[2] * (1 - a),
    )


def luminance(rgb: RGB) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def ratio(a: RGB, b: RGB) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def hexed(rgb: RGB) -> str:
    return "#" + "".join(f"{round(c):02X}" for c in rgb)


@dataclass(frozen=True)
class Measure:
    text: str
    style: str
    colour: str
    subtle: bool
    foreground: RGB
    background: RGB
    ratio: float

    def describe(self) -> str:
        return (
            f"{self.ratio:.2f}:1 {self.colour}{' subtle' if self.subtle else ''} text "
            f"{hexed(self.foreground)} on {self.style} {hexed(self.background)}: "
            f"{self.text[:60]!r}"
        )


class _Walker:
    def __init__(self, host: dict[str, Any]) -> None:
        self.host = host

    def measure(self, text: str, colour: str, subtle: bool, style: str, bg: RGB) -> Measure:
        fg_set = self.host["containerStyles"][style]["foregroundColors"]
        fg = over(fg_set[colour.lower()]["subtle" if subtle else "default"], bg)
        return Measure(text, style, colour, subtle, fg, bg, ratio(fg, bg))

    def walk(self, node: Any, style: str, bg: RGB) -> Iterator[Measure]:
        if isinstance(node, list):
            for item in node:
                yield from self.walk(item, style, bg)
            return
        if not isinstance(node, dict):
            return
        kind = node.get("type")
        if kind in _STYLED and node.get("style"):
            style = str(node["style"]).lower()
            bg = over(self.host["containerStyles"][style]["backgroundColor"], bg)
        if kind == "TextBlock":
            yield self.measure(
                str(node.get("text", "")),
                str(node.get("color", "Default")),
                bool(node.get("isSubtle", False)),
                style,
                bg,
            )
        elif kind == "RichTextBlock":
            for run in node.get("inlines", []):
                if isinstance(run, str):
                    yield self.measure(run, "Default", False, style, bg)
                else:
                    yield self.measure(
                        str(run.get("text", "")),
                        str(run.get("color", "Default")),
                        bool(run.get("isSubtle", False)),
                        style,
                        bg,
                    )
        elif kind == "FactSet":
            facts = self.host["factSet"]
            for fact in node.get("facts", []):
                for part, key in (("title", "title"), ("value", "value")):
                    yield self.measure(
                        str(fact.get(key, "")),
                        facts[part]["color"],
                        bool(facts[part].get("isSubtle", False)),
                        style,
                        bg,
                    )
        elif kind in _INPUT_TEXT:
            for key in _INPUT_TEXT[kind]:
                if node.get(key):
                    yield self.measure(str(node[key]), "Default", False, style, bg)
        elif kind == "Action.ShowCard":
            shown = self.host["showCardStyle"]
            inner = over(self.host["containerStyles"][shown]["backgroundColor"], bg)
            yield from self.walk(node.get("card", {}).get("body", []), shown, inner)
            yield from self.walk(node.get("card", {}).get("actions", []), shown, inner)
            return
        for key, value in node.items():
            if key in ("body", "items", "columns", "actions", "inlines", "card", "rows", "cells"):
                if kind == "RichTextBlock" and key == "inlines":
                    continue
                yield from self.walk(value, style, bg)


def measures(card: dict[str, Any], host: dict[str, Any]) -> list[Measure]:
    """Every text of ``card`` as rendered with ``host``, with its contrast ratio."""
    page = over(host["pageBackground"], (255, 255, 255))
    bg = over(host["containerStyles"]["default"]["backgroundColor"], page)
    walker = _Walker(host)
    return list(walker.walk(card.get("body", []), "default", bg)) + list(
        walker.walk(card.get("actions", []), "default", bg)
    )


def main() -> None:
    """Print, per host config, how many texts were measured, how many fall under 4.5:1, and the
    lowest ratios: ``python -m tests.cards.contrast``."""
    from cards import to_json
    from tests.cards.host_configs import HOST_CONFIGS
    from tests.cards.samples import all_cases

    cases = {name: to_json(build()) for name, build in all_cases().items()}
    for host_name, host in sorted(HOST_CONFIGS.items()):
        found = [(name, m) for name, card in cases.items() for m in measures(card, host)]
        low = sorted(((n, m) for n, m in found if m.ratio < MINIMUM), key=lambda x: x[1].ratio)
        lowest = min(m.ratio for _, m in found)
        print(
            f"{host_name}: {len(found)} texts on {len(cases)} cards, {len(low)} under "
            f"{MINIMUM}:1, lowest {lowest:.2f}:1"
        )
        seen: set[tuple[str, str, bool]] = set()
        for name, m in low:
            key = (m.style, m.colour, m.subtle)
            if key not in seen:
                seen.add(key)
                print(f"  {name}: {m.describe()}")


if __name__ == "__main__":
    main()
