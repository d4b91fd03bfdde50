"""The simulation page's charts: a measure by month, actual beside simulated, as grouped bars in
inline SVG (no script, no external asset, no inline style: the content security policy allows
neither). The drawing scales to the screen's width (viewBox)."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

from gateway.domain.money import yuan

ACTUAL, SIMULATED = "#9aa5b1", "#1f4e79"


def by_month(report: dict[str, Any], measure: str, label: str, sides: tuple[str, str], chart_id: str) -> str:
    """``measure`` ("tier 1", "member_responsibility") by month; ``sides``: the legend's words."""
    months = {m: cell.get(measure, [0, 0]) for m, cell in report["by"].get("month", {}).items()}
    width, height, left, top = 480, 220, 70, 12  # a phone shows it at about 0.75
    peak = max([max(pair) for pair in months.values()] + [1])
    step = (width - left - 8) / max(len(months), 1)
    bar = max(2.0, step * 0.38)
    parts = [
        f'<svg id="{chart_id}" class="chart" viewBox="0 0 {width} {height + 60}" role="img" '
        f'aria-label="{escape(label)}">'
    ]
    for i in range(5):  # the scale, in yuan
        value = peak * i // 4
        y = top + height - round(value / peak * height)
        parts.append(f'<line x1="{left}" y1="{y}" x2="{width - 8}" y2="{y}" stroke="#d5dbe3"/>')
        whole = yuan(value // 100 * 100)[:-3]  # whole yuan on the scale
        parts.append(f'<text x="{left - 4}" y="{y + 3}" font-size="14" text-anchor="end">{whole}</text>')
    for i, (month, pair) in enumerate(months.items()):
        x = left + i * step + step * 0.1
        for j, (fen, colour) in enumerate(zip(pair, (ACTUAL, SIMULATED), strict=True)):
            h = round(fen / peak * height)
            parts.append(
                f'<rect x="{x + j * bar:.1f}" y="{top + height - h}" width="{bar:.1f}" height="{h}" '
                f'fill="{colour}"><title>{escape(month)} {escape(sides[j])}: {yuan(fen)}</title></rect>'
            )
        parts.append(
            f'<text x="{x + bar:.1f}" y="{top + height + 18}" font-size="13" text-anchor="middle">'
            f"{escape(month[5:])}</text>"
        )
    for j, (side, colour) in enumerate(zip(sides, (ACTUAL, SIMULATED), strict=True)):
        parts.append(
            f'<rect x="{left + j * 140}" y="{top + height + 28}" width="14" height="14" fill="{colour}"/>'
        )
        parts.append(
            f'<text x="{left + 20 + j * 140}" y="{top + height + 40}" font-size="15">{escape(side)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
