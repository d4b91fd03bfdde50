"""The runs page's chart: mismatches per night as stacked bars, in inline SVG (no script, no
external asset, no inline style: the content security policy allows neither)."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

from reconciliation.matching import MISMATCHES


def chart(runs: list[dict[str, Any]], t: Any) -> str:
    """Mismatches per night as stacked bars (inline SVG: no script, no external asset)."""
    colours = ["#c0392b", "#e67e22", "#8e44ad", "#2980b9", "#16a085", "#7f8c8d"]
    width, height, bar = 640, 180, 28
    peak = max([sum(r["counts"].get("kinds", {}).get(k, 0) for k in MISMATCHES) for r in runs] + [1])
    parts = [
        f'<svg id="chart" width="{width}" height="{height + 40}" role="img" '
        f'aria-label="{escape(t("recent_nights"))}">'
    ]
    for i, run in enumerate(runs[-18:]):
        x, y = 20 + i * (bar + 6), height
        for kind, colour in zip(MISMATCHES, colours, strict=True):
            n = run["counts"].get("kinds", {}).get(kind, 0)
            if n:
                h = max(1, round(n / peak * (height - 10)))
                y -= h
                parts.append(
                    f'<rect x="{x}" y="{y}" width="{bar}" height="{h}" fill="{colour}">'
                    f"<title>{escape(run['business_date'])} {escape(t(kind, 'kinds'))}: {n}</title></rect>"
                )
        parts.append(
            f'<text x="{x}" y="{height + 14}" font-size="9">{escape(run["business_date"][5:])}</text>'
        )
    for j, (kind, colour) in enumerate(zip(MISMATCHES, colours, strict=True)):
        parts.append(f'<rect x="{20 + j * 100}" y="{height + 24}" width="10" height="10" fill="{colour}"/>')
        parts.append(
            f'<text x="{34 + j * 100}" y="{height + 33}" font-size="10">{escape(t(kind, "kinds"))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
