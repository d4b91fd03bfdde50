"""The fund page's chart: paid per month, stacked by tier, in inline SVG (no script, no inline
style: the content security policy allows neither); it scales to the screen (viewBox)."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

from gateway.domain.money import yuan

COLOURS = {1: "#1f4e79", 2: "#e67e22", 3: "#16a085"}


def by_month(rows: list[dict[str, Any]], year: int, label: str, tier_word: str) -> str:
    months = [f"{year:04d}-{m:02d}" for m in range(1, 13)]
    paid: dict[str, dict[int, int]] = {m: {} for m in months}
    for row in rows:
        if row["month"] in paid:
            cell = paid[row["month"]]
            cell[row["tier"]] = cell.get(row["tier"], 0) + row["paid_fen"]
    width, height, left, top = 480, 200, 80, 10
    peak = max([sum(c.values()) for c in paid.values()] + [1])
    step = (width - left - 8) / 12
    parts = [
        f'<svg id="fund-chart" class="chart" viewBox="0 0 {width} {height + 56}" role="img" '
        f'aria-label="{escape(label)}">'
    ]
    for i in range(5):
        value = peak * i // 4
        y = top + height - round(value / peak * height)
        parts.append(f'<line x1="{left}" y1="{y}" x2="{width - 8}" y2="{y}" stroke="#d5dbe3"/>')
        parts.append(
            f'<text x="{left - 4}" y="{y + 4}" font-size="13" text-anchor="end">'
            f"{yuan(value // 100 * 100)[:-3]}</text>"
        )
    for i, month in enumerate(months):
        x, y = left + i * step + step * 0.15, top + height
        for tier in (1, 2, 3):
            fen = paid[month].get(tier, 0)
            if fen:
                h = max(1, round(fen / peak * height))
                y -= h
                parts.append(
                    f'<rect x="{x:.1f}" y="{y}" width="{step * 0.7:.1f}" height="{h}" fill="{COLOURS[tier]}">'
                    f"<title>{month} {escape(tier_word)} {tier}: {yuan(fen)}</title></rect>"
                )
        parts.append(
            f'<text x="{x + step * 0.35:.1f}" y="{top + height + 16}" font-size="12" '
            f'text-anchor="middle">{month[5:]}</text>'
        )
    for j, (tier, colour) in enumerate(COLOURS.items()):
        parts.append(
            f'<rect x="{left + j * 110}" y="{top + height + 28}" width="14" height="14" fill="{colour}"/>'
        )
        parts.append(
            f'<text x="{left + 20 + j * 110}" y="{top + height + 40}" font-size="14">'
            f"{escape(tier_word)} {tier}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
