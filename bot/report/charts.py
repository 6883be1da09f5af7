"""PNG charts for the report email, drawn by matplotlib on its non-interactive Agg backend.

Colours are picked for contrast on white (each at least 3:1 against it, as graphics need) and
every chart also labels its values, so no figure is read from colour alone.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

PALETTE = ("#0F5CA8", "#B3261E", "#8A5A00", "#2E7D32", "#5C5C5C", "#6A1B9A")
DPI = 110


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    _pyplot().close(fig)
    return buffer.getvalue()


def bar_chart(title: str, pairs: Sequence[tuple[str, int]]) -> bytes:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 0.5 + 0.45 * max(1, len(pairs))))
    labels = [k for k, _ in pairs] or ["None"]
    values = [v for _, v in pairs] or [0]
    bars = ax.barh(labels, values, color=PALETTE[0])
    ax.bar_label(bars, labels=[str(v) for v in values], padding=3, color="#1F1F1F")
    ax.invert_yaxis()
    ax.set_title(title, color="#1F1F1F", loc="left")
    ax.tick_params(colors="#1F1F1F")
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_xlim(0, max(values) * 1.2 + 1)
    return _png(fig)


def time_chart(experts_hours: float, customer_hours: float) -> bytes:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 1.6))
    ax.barh(["Average"], [experts_hours], color=PALETTE[0], label="Experts' time")
    ax.barh(
        ["Average"], [customer_hours], left=[experts_hours], color=PALETTE[2], label="Your time"
    )
    ax.set_xlabel("Hours", color="#1F1F1F")
    ax.set_title(
        f"Average time to resolve: experts {experts_hours:.1f} h, you {customer_hours:.1f} h",
        color="#1F1F1F",
        loc="left",
    )
    ax.legend(loc="lower right", frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def trend_chart(months: Sequence[str], series: Sequence[tuple[str, Sequence[int]]]) -> bytes:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3))
    markers = ("o", "s", "^", "D", "v", "x")
    for i, (name, values) in enumerate(series):
        ax.plot(
            list(months),
            list(values),
            marker=markers[i % len(markers)],
            color=PALETTE[i % len(PALETTE)],
            label=name,
        )
    ax.set_title("Incidents per month, by severity", color="#1F1F1F", loc="left")
    ax.set_ylabel("Incidents", color="#1F1F1F")
    ax.spines[["top", "right"]].set_visible(False)
    if series:
        ax.legend(frameon=False)
    return _png(fig)
