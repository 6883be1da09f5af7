"""The colours of the host configs a card is read in, for the contrast check.

Only the parts that decide a text's colour and the background behind it are kept: each
container style's background and foreground colours, the style of an ``Action.ShowCard``'s card,
and the colours of a FactSet's titles and values. Colours are ``#RRGGBB`` or ``#AARRGGBB``
(alpha first, as the Adaptive Cards renderers read them).

Sources:
- **Teams light / dark:** Microsoft's host configs for Microsoft Teams, published with the
  Adaptive Cards SDK and used by its designer's "Microsoft Teams" host:
  https://github.com/microsoft/AdaptiveCards/blob/main/samples/HostConfig/microsoft-teams-light.json
  (read at commit 6cf9ce1ac957c32b864a6bf1ed31c13dc2efc742) and
  https://github.com/microsoft/AdaptiveCards/blob/main/samples/HostConfig/microsoft-teams-dark.json
  (read at commit 181511ae0825c5b224a717f96bb86ecd54122695). Teams' high-contrast theme overrides
  every colour with the user's system colours, so only light and dark are checked.
- **Agents Playground:** the light host config bundled with
  @microsoft/m365agentsplayground 0.2.28 (the project's local Teams client), as measured in
  /work/shared/PLAYGROUND.md; its subtle colours are the Adaptive Cards JS renderer's defaults,
  which the Playground keeps.
"""

from __future__ import annotations

from typing import Any

_TEAMS_LIGHT_FG = {
    "default": {"default": "#ff252424", "subtle": "#bf252424"},
    "dark": {"default": "#252424", "subtle": "#bf252424"},
    "light": {"default": "#ffffff", "subtle": "#fff3f2f1"},
    "accent": {"default": "#6264a7", "subtle": "#8b8cc7"},
    "good": {"default": "#92c353", "subtle": "#e592c353"},
    "warning": {"default": "#f8d22a", "subtle": "#e5f8d22a"},
    "attention": {"default": "#c4314b", "subtle": "#e5c4314b"},
}
_TEAMS_DARK_FG = {
    "default": {"default": "#ffffffff", "subtle": "#bfffffff"},
    "dark": {"default": "#ff201f1f", "subtle": "#ff2d2c2c"},
    "light": {"default": "#ffffffff", "subtle": "#bfffffff"},
    "accent": {"default": "#ffa6a7dc", "subtle": "#ff8b8cc7"},
    "good": {"default": "#ff92c353", "subtle": "#e592c353"},
    "warning": {"default": "#fff8d22a", "subtle": "#e5f8d22a"},
    "attention": {"default": "#ffd74654", "subtle": "#e5d74654"},
}
# In Teams' dark config the light-background styles (accent, good, attention, warning) switch
# their default and dark text to a dark grey; every other colour stays as in the dark default.
_TEAMS_DARK_ON_LIGHT_FG = {
    **_TEAMS_DARK_FG,
    "default": {"default": "#ff201f1f", "subtle": "#ff2d2c2c"},
}
_PLAYGROUND_FG = {
    "default": {"default": "#333333", "subtle": "#EE333333"},
    "dark": {"default": "#000000", "subtle": "#66000000"},
    "light": {"default": "#FFFFFF", "subtle": "#33000000"},
    "accent": {"default": "#2E89FC", "subtle": "#882E89FC"},
    "good": {"default": "#028A02", "subtle": "#DD027502"},
    "warning": {"default": "#E69500", "subtle": "#DDE69500"},
    "attention": {"default": "#CC3300", "subtle": "#DDCC3300"},
}
_DEFAULT_FACTS = {"title": {"color": "Default", "isSubtle": False}, "value": {"color": "Default"}}


def _styles(
    fg: dict[str, Any], backgrounds: dict[str, str], on_light: dict[str, Any] | None = None
) -> dict[str, Any]:
    light_styles = ("accent", "good", "attention", "warning")
    return {
        style: {
            "backgroundColor": bg,
            "foregroundColors": (on_light if on_light and style in light_styles else fg),
        }
        for style, bg in backgrounds.items()
    }


HOST_CONFIGS: dict[str, dict[str, Any]] = {
    "teams-light": {
        "pageBackground": "#ffffff",
        "containerStyles": _styles(
            _TEAMS_LIGHT_FG,
            {
                "default": "#ffffff",
                "emphasis": "#fff9f8f7",
                "accent": "#C7DEF9",
                "good": "#CCFFCC",
                "attention": "#FFC5B2",
                "warning": "#FFE2B2",
            },
        ),
        "showCardStyle": "emphasis",
        "factSet": _DEFAULT_FACTS,
    },
    "teams-dark": {
        "pageBackground": "#ff2d2c2c",
        "containerStyles": _styles(
            _TEAMS_DARK_FG,
            {
                "default": "#ff2d2c2c",
                "emphasis": "#ff292828",
                "accent": "#C7DEF9",
                "good": "#CCFFCC",
                "attention": "#FFC5B2",
                "warning": "#FFE2B2",
            },
            _TEAMS_DARK_ON_LIGHT_FG,
        ),
        "showCardStyle": "emphasis",
        "factSet": _DEFAULT_FACTS,
    },
    "playground": {
        "pageBackground": "#FFFFFF",
        "containerStyles": _styles(
            _PLAYGROUND_FG,
            {
                "default": "#FFFFFF",
                "emphasis": "#08000000",
                "accent": "#C7DEF9",
                "good": "#CCFFCC",
                "attention": "#FFC5B2",
                "warning": "#FFE2B2",
            },
        ),
        "showCardStyle": "emphasis",
        "factSet": _DEFAULT_FACTS,
    },
}
