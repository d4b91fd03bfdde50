"""``ltc-gateway simulate``: a simulation from the command line, with a progress bar on stderr
and the report as tables (yuan, for people to read; the stored report keeps fen)."""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from gateway.bootstrap import Gateway, bootstrap
from gateway.config import Settings
from gateway.simulation import city
from gateway.simulation.history import Period
from gateway.simulation.run import simulate
from gateway.storage.migrate import upgrade_engine


def bar(label: str) -> Any:
    def show(done: int, total: int) -> None:
        width = 30
        filled = width * done // total if total else width
        end = "\n" if done >= total else ""
        print(
            f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}",
            end=end,
            file=sys.stderr,
            flush=True,
        )

    return show


def yuan(fen: int) -> str:
    return f"{fen / 100:,.2f}"


def _change(pair: list[int]) -> str:
    actual, simulated = pair
    if actual == simulated:
        return "="
    sign = "+" if simulated > actual else "-"
    percent = f" ({(simulated - actual) / actual:+.1%})" if actual else ""
    return f"{sign}{yuan(abs(simulated - actual))}{percent}"


def _table(title: str, header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]
    lines = [title, "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(
            str(c).rjust(w) if i else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    return "\n".join(lines)


def chart(result: dict[str, Any], width: int = 40) -> str:
    """Tier 1 by month, actual (▒) beside simulated (█), on one scale."""
    months = {key: m.get("tier 1", [0, 0]) for key, m in result["by"].get("month", {}).items()}
    top = max((max(pair) for pair in months.values()), default=0) or 1
    lines = ["Tier 1 paid by month (▒ actual, █ simulated, yuan)"]
    for month, (actual, simulated) in months.items():
        lines.append(f"{month} ▒{'▒' * (width * actual // top):<{width}} {yuan(actual):>14}")
        lines.append(f"{'':7} █{'█' * (width * simulated // top):<{width}} {yuan(simulated):>14}")
    return "\n".join(lines)


def render(result: dict[str, Any]) -> str:
    pair = ["actual", "simulated", "change"]
    out = [
        f"{result['claims']} claims, {result['lines']} lines, {result['members']} members; "
        f"drafts: {', '.join(result['drafts']) or 'none'}",
        "",
    ]
    rows = [
        [
            tier,
            yuan(e["paid_fen"][0]),
            yuan(e["paid_fen"][1]),
            _change(e["paid_fen"]),
            f"{e['members'][0]} → {e['members'][1]}",
        ]
        for tier, e in result["tiers"].items()
    ]
    resp = result["member_responsibility"]
    for name in ("total_fen", "per_member_fen", "p50_fen", "p90_fen", "p99_fen"):
        rows.append(
            [
                f"member pays ({name[:-4].replace('_', ' ')})",
                yuan(resp[name][0]),
                yuan(resp[name][1]),
                _change(resp[name]),
                "",
            ]
        )
    out.append(_table("Fund paid and member responsibility (yuan)", ["", *pair, "members paid"], rows))
    out.append("")
    rows = [
        [
            code,
            f"tier {e['tier']}",
            yuan(e["paid_fen"][0]),
            yuan(e["paid_fen"][1]),
            _change(e["paid_fen"]),
            f"{e['claims'][0]} → {e['claims'][1]}",
        ]
        for code, e in result["products"].items()
    ]
    out.append(_table("By product (yuan)", ["product", "tier", *pair, "claims paid"], rows))
    for dimension in ("month", "grade", "setting", "district"):
        cells = result["by"].get(dimension, {})
        rows = []
        for key, measures in cells.items():
            t1 = measures.get("tier 1", [0, 0])
            mine = measures.get("member_responsibility", [0, 0])
            rows.append([key, yuan(t1[0]), yuan(t1[1]), _change(t1), yuan(mine[0]), yuan(mine[1])])
        out += [
            "",
            _table(
                f"By {dimension} (yuan)",
                [
                    dimension,
                    "tier 1 actual",
                    "tier 1 simulated",
                    "change",
                    "member actual",
                    "member simulated",
                ],
                rows,
            ),
        ]
    out += ["", chart(result)]
    f = result["funding"]
    left = ["not exhausted" if m is None else f"{m} months" for m in f["months_of_payment_left"]]
    out += [
        "",
        f"Funding: contributions {yuan(f['contributions_fen'])} over {f['months']} months "
        f"({yuan(f['per_person_year_fen'])} a person a year × {f['enrolled_members']} members); "
        f"tier-1 spending {yuan(f['tier1_spending_fen'][0])} actual, "
        f"{yuan(f['tier1_spending_fen'][1])} simulated; "
        f"payment left: {left[0]} actual, {left[1]} simulated",
    ]
    for name, label in (("members_losing_most", "pay most more"), ("members_gaining_most", "pay most less")):
        if result[name]:
            out.append(
                f"Members who {label}: "
                + ", ".join(f"{m['member']} {yuan(m['change_fen'])}" for m in result[name][:5])
            )
    gap = result["coverage_gap"]
    shown = sum(1 for c in gap["cells"] if not c["suppressed"])
    out.append(
        f"Coverage gap after tiers 1–2: {shown} of {len(gap['cells'])} cells published "
        f"(k = {gap['minimum_cell_members']}), {yuan(gap['published_gap_fen'])} in the published cells"
    )
    return "\n".join(out)


def run_command(
    settings: Settings,
    period: Period | None,
    drafts: list[Path],
    generated: int | None,
    funding: dict[str, Any],
    processes: int,
    as_json: bool,
    actor: str = "cli",
    xlsx: Path | None = None,
) -> int:
    documents = [json.loads(path.read_text(encoding="utf-8")) for path in drafts]
    if generated is not None:
        folder = Path(tempfile.mkdtemp(prefix="ltc-city-"))
        settings = replace(settings, database_url=f"sqlite:///{folder / 'city.db'}")
    gateway: Gateway = bootstrap(settings)
    try:
        if generated is not None:
            upgrade_engine(gateway.engine)
            made = city.generate(gateway, generated, progress=bar(f"generating {generated} members"))
            period = period or made
        if period is None:
            period = city.year_before(gateway.today())
        document = {
            "period": {"from": period.first, "to": period.last},
            "drafts": documents,
            "funding": funding,
        }
        _, result = simulate(
            gateway.sessions,
            settings.database_url,
            document,
            actor,
            processes=processes,
            k=settings.simulation_min_cell_members,
            progress=bar("replaying members"),
        )
    finally:
        gateway.close()
    if xlsx is not None:
        from gateway.simulation.workbook import write

        write(result, xlsx)
    print(json.dumps(result, ensure_ascii=False, indent=2) if as_json else render(result))
    return 0
