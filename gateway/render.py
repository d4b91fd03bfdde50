"""A coordinated claim as a table for people (the CLI and the demo)."""

from __future__ import annotations

from typing import Any

from gateway.domain.money import yuan


def _table(rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(_width(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for n, row in enumerate(rows):
        cells = [_pad(cell, widths[i], i in right) for i, cell in enumerate(row)]
        out.append("  ".join(cells).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return out


def _width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)  # CJK takes two columns


def _pad(text: str, width: int, right: bool) -> str:
    gap = " " * (width - _width(text))
    return gap + text if right else text + gap


def claim_table(view: dict[str, Any]) -> str:
    lines = [
        f"Claim {view['claim_number']} ({view['claim_id']})",
        f"Period {view['period']['start']} to {view['period']['end']}, status {view['status']}, "
        f"billed {yuan(view['billed_fen'])}",
        "",
    ]
    tiers = {(p["payer_code"], p["product_code"]): p["tier"] for p in view["payers"]}
    for line in view["lines"]:
        lines.append(
            f"Line {line['line_no']}: {line['service_code']} {line['setting']}/{line['method']}, "
            f"{line['quantity']} × {yuan(line['unit_price_fen'])} = {yuan(line['billed_fen'])}"
        )
        rows = [["tier", "payer", "product", "paid", "not paid, by reason"]]
        for p in line["payments"]:
            reasons = "; ".join(f"{r['code']} {yuan(r['amount_fen'])}" for r in p["reasons"]) or "-"
            rows.append(
                [
                    str(tiers.get((p["payer_code"], p["product_code"]), "")),
                    p["payer_code"],
                    p["product_code"],
                    yuan(p["paid_fen"]),
                    reasons,
                ]
            )
        if line["member_responsibility_fen"] is not None:
            rows.append(["", "member", "", yuan(line["member_responsibility_fen"]), ""])
        lines.extend("  " + row for row in _table(rows, right={3}))
        lines.append("")
    total = view["member_responsibility_fen"]
    paid: dict[tuple[str, str], int] = {}
    for line in view["lines"]:
        for p in line["payments"]:
            key = (p["payer_code"], p["product_code"])
            paid[key] = paid.get(key, 0) + p["paid_fen"]
    rows = [["tier", "payer", "product", "paid"]]
    rows += [[str(tiers[key]), key[0], key[1], yuan(amount)] for key, amount in paid.items()]
    rows.append(["", "member", "", yuan(total) if total is not None else "(pending)"])
    lines.append("Totals")
    lines.extend("  " + row for row in _table(rows, right={3}))
    if view["fixed_benefits"]:
        lines.append("")
        lines.append("Fixed benefits (paid to the person, beside the coordination)")
        rows = [["payer", "product", "month", "amount", "payee"]]
        rows += [
            [f["payer_code"], f["product_code"], f["month"], yuan(f["amount_fen"]), f["payee"]]
            for f in view["fixed_benefits"]
        ]
        lines.extend("  " + row for row in _table(rows, right={3}))
    routed = [s for s in view.get("payers", []) if s.get("administrator_code")]
    unsettled = [s for s in view.get("payers", []) if s["status"] != "decided"]
    if routed or unsettled:
        lines.append("")
        lines.append("Payer steps")
        rows = [["tier", "payer", "settled by", "product", "status", "attempts"]]
        rows += [
            [
                str(s["tier"]),
                s["payer_code"],
                s.get("administrator_code", s["payer_code"]),
                s["product_code"],
                s["status"] + (f": {s['error']}" if s.get("error") else ""),
                str(s["attempts"]),
            ]
            for s in view["payers"]
        ]
        lines.extend("  " + row for row in _table(rows, right={5}))
    if view.get("adjustments"):
        lines.append("")
        lines.append("Adjustments (top-up +, recovery −)")
        rows = [["round", "payer", "product", "line", "before", "after", "change"]]
        rows += [
            [
                str(a["round"]),
                a["payer_code"],
                a["product_code"],
                str(a["line_no"]),
                yuan(a["previous_paid_fen"]),
                yuan(a["paid_fen"]),
                ("+" if a["delta_fen"] > 0 else "") + yuan(a["delta_fen"]),
            ]
            for a in view["adjustments"]
        ]
        lines.extend("  " + row for row in _table(rows, right={4, 5, 6}))
    if view.get("flags"):
        lines.append("")
        lines.append("Flags for the bureau")
        lines.extend(
            f"  line {f['line_no']} {f['kind']} ({f['payer_code']}): {f['detail']}" for f in view["flags"]
        )
    return "\n".join(lines)
