"""The statement as a PDF (A4), drawn with ReportLab in a CJK font from the system (Debian's
fonts-wqy-microhei by default, ``LTC_STATEMENT_FONT``), embedded as a subset so the file prints
and its text can be searched and copied anywhere."""

from __future__ import annotations

import hashlib
import io
import threading
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from gateway.documents.settlement_statement import Statement
from gateway.documents.translations import Translator
from gateway.errors import ServiceError

_lock = threading.Lock()
_registered: dict[str, str] = {}
GRID = colors.HexColor("#999999")
HEAD = colors.HexColor("#eeeeee")
LINE = colors.HexColor("#dde6f0")


class FontUnavailable(ServiceError):
    """The CJK font the PDF needs is not installed: the deployment's fault, not the caller's."""


def font(path: str) -> str:
    """The font at ``path`` registered with ReportLab (once per process); its name there."""
    with _lock:
        if path in _registered:
            return _registered[path]
        if not Path(path).is_file():
            raise FontUnavailable(
                f"the PDF statement needs a CJK font and {path} is missing "
                "(install fonts-wqy-microhei or set LTC_STATEMENT_FONT); the HTML statement works"
            )
        name = "LTC-" + hashlib.sha256(path.encode()).hexdigest()[:8]
        try:
            # a .ttc holds several faces: the first is the regular one
            pdfmetrics.registerFont(TTFont(name, path, subfontIndex=0))
        except Exception as error:  # a file that is not a TrueType font
            raise FontUnavailable(f"the statement font {path} cannot be read: {error}") from None
        _registered[path] = name
        return name


def render_pdf(statement: Statement, font_path: str) -> bytes:
    face = font(font_path)
    t = Translator(statement.lang)
    styles = _styles(face)
    out = io.BytesIO()
    document = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=18 * mm,
        title=f"{t('statement.title')} {statement.claim_number}",  # no personal data in the metadata
        author="ltc-gateway",
    )
    width = A4[0] - 30 * mm

    def p(text: str, style: str = "cell") -> Paragraph:
        return Paragraph(escape(text), styles[style])

    story: list[Any] = [
        p(t("statement.title"), "title"),
        p(t("statement.subtitle"), "subtitle"),
        _grid(
            [
                [
                    p(t("statement.claim_number"), "label"),
                    p(statement.claim_number),
                    p(t("statement.status"), "label"),
                    p(statement.status),
                ],
                [
                    p(t("statement.provider"), "label"),
                    p(statement.provider),
                    p(t("statement.period"), "label"),
                    p(statement.period),
                ],
                [
                    p(t("statement.member"), "label"),
                    p(statement.member or "—"),
                    p(t("statement.member_id_number"), "label"),
                    p(statement.member_id_number),
                ],
                [
                    p(t("statement.received_at"), "label"),
                    p(statement.received_at),
                    p(t("statement.coordinated_at"), "label"),
                    p(statement.coordinated_at),
                ],
                [
                    p(t("statement.round"), "label"),
                    p(str(statement.round)),
                    p(t("statement.claim_id"), "label"),
                    p(statement.claim_id, "small"),
                ],
            ],
            [0.14 * width, 0.36 * width, 0.14 * width, 0.36 * width],
            header=False,
        ),
    ]
    if statement.payer_view:
        story.append(p(t("statement.payer_view"), "notice"))
    elif not statement.final:
        story.append(p(t("statement.not_final"), "notice"))

    story.append(p(f"{t('statement.lines')}（{t('statement.currency_note')}）", "h2"))
    rows: list[list[Any]] = [
        [
            p(t("statement.tier"), "label"),
            p(t("statement.payer"), "label"),
            p(t("statement.product"), "label"),
            p(t("statement.paid"), "label_right"),
            p(t("statement.unpaid"), "label"),
        ]
    ]
    spans: list[int] = []
    members: list[int] = []
    for line in statement.lines:
        spans.append(len(rows))
        heading = (
            f"{t('statement.line', line_no=line.line_no)} · {line.service} · {line.dates} · "
            f"{line.quantity} × {line.unit_price} = {line.billed}"
        )
        rows.append([p(heading, "label"), "", "", "", ""])
        for payment in line.payments:
            unpaid = [[p(u.reason), p(u.amount, "amount")] for u in payment.unpaid] or [[p("—"), ""]]
            reasons = Table(unpaid, colWidths=[0.24 * width, 0.12 * width])
            reasons.setStyle(
                TableStyle(
                    [
                        ("LEFTPADDING", (0, 0), (-1, -1), 0),
                        ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                        ("TOPPADDING", (0, 0), (-1, -1), 0),
                        ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
                    ]
                )
            )
            rows.append(
                [p(payment.tier), p(payment.payer), p(payment.product), p(payment.paid, "amount"), reasons]
            )
        if line.member_pays is not None:
            members.append(len(rows))
            rows.append(
                [p(t("statement.member_pays"), "bold"), "", "", p(line.member_pays, "amount_bold"), ""]
            )
    table = _grid(rows, [0.15 * width, 0.14 * width, 0.20 * width, 0.13 * width, 0.38 * width])
    table.setStyle(
        TableStyle(
            [cmd for n in spans for cmd in (("SPAN", (0, n), (-1, n)), ("BACKGROUND", (0, n), (-1, n), LINE))]
            + [("SPAN", (0, n), (2, n)) for n in members]
        )
    )
    story.append(table)

    story.append(p(t("statement.totals"), "h2"))
    totals = [[p(t("statement.total_billed"), "bold"), p(statement.total_billed, "amount")]]
    totals += [[p(label), p(amount, "amount")] for label, amount in statement.paid_by_payer]
    totals.append([p(t("statement.total_paid"), "bold"), p(statement.total_paid, "amount")])
    if statement.member_pays is not None:
        totals.append([p(t("statement.member_pays_total"), "bold"), p(statement.member_pays, "amount_bold")])
    story.append(_grid(totals, [0.75 * width, 0.25 * width], header=False))

    story.append(p(t("statement.fixed_benefits"), "h2"))
    story.append(
        _section(
            p,
            t,
            [
                "statement.payer",
                "statement.product",
                "statement.month",
                "statement.amount",
                "statement.payee",
            ],
            [
                [f["payer"], f["product"], f["month"], f["amount"], f["payee"]]
                for f in statement.fixed_benefits
            ],
            [0.22, 0.33, 0.13, 0.16, 0.16],
            width,
            amounts={3},
        )
    )
    story.append(p(t("statement.adjustments"), "h2"))
    story.append(
        _section(
            p,
            t,
            [
                "statement.round",
                "statement.payer",
                "statement.product",
                "#",
                "statement.previous_paid",
                "statement.now_paid",
                "statement.delta",
                "statement.kind",
                "statement.cause",
            ],
            [
                [
                    a["round"],
                    a["payer"],
                    a["product"],
                    a["line"],
                    a["previous"],
                    a["now"],
                    a["delta"],
                    a["kind"],
                    a["cause"],
                ]
                for a in statement.adjustments
            ],
            [0.07, 0.13, 0.16, 0.05, 0.11, 0.11, 0.11, 0.08, 0.18],
            width,
            amounts={4, 5, 6},
        )
    )
    story.append(p(t("statement.references"), "h2"))
    story.append(
        _section(
            p,
            t,
            [
                "statement.tier",
                "statement.payer",
                "statement.product",
                "statement.step_status",
                "statement.reference",
            ],
            [
                [r["tier"], r["payer"], r["product"], r["status"], r["reference"]]
                for r in statement.references
            ],
            [0.15, 0.3, 0.2, 0.1, 0.25],
            width,
        )
    )
    story += [
        Spacer(1, 4 * mm),
        p(f"{t('statement.footer')} {t('statement.printed_at')}: {statement.printed_at}", "small"),
    ]

    def page_number(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(face, 8)
        canvas.drawRightString(A4[0] - 15 * mm, 10 * mm, f"{statement.claim_number} · {doc.page}")
        canvas.restoreState()

    document.build(story, onFirstPage=page_number, onLaterPages=page_number)
    return out.getvalue()


def _styles(face: str) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("cell", fontName=face, fontSize=9, leading=12, wordWrap="CJK")
    return {
        "cell": base,
        "small": ParagraphStyle(
            "small", parent=base, fontSize=7.5, leading=10, textColor=colors.HexColor("#555555")
        ),
        "label": ParagraphStyle("label", parent=base, textColor=colors.HexColor("#333333")),
        "label_right": ParagraphStyle("label_right", parent=base, alignment=TA_RIGHT),
        "bold": ParagraphStyle("bold", parent=base, fontSize=10),
        "amount": ParagraphStyle("amount", parent=base, alignment=TA_RIGHT),
        "amount_bold": ParagraphStyle("amount_bold", parent=base, alignment=TA_RIGHT, fontSize=10.5),
        "title": ParagraphStyle("title", parent=base, fontSize=17, leading=22, alignment=TA_CENTER),
        "subtitle": ParagraphStyle(
            "subtitle", parent=base, alignment=TA_CENTER, spaceAfter=8, textColor=colors.HexColor("#555555")
        ),
        "h2": ParagraphStyle(
            "h2", parent=base, fontSize=11.5, leading=15, spaceBefore=9, spaceAfter=3, keepWithNext=1
        ),
        "notice": ParagraphStyle(
            "notice",
            parent=base,
            spaceBefore=6,
            borderColor=colors.HexColor("#cc6600"),
            borderWidth=0.6,
            borderPadding=4,
            backColor=colors.HexColor("#fff4e5"),
        ),
    }


def _grid(rows: list[list[Any]], widths: list[float], header: bool = True) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1 if header else 0)
    commands: list[Any] = [
        ("GRID", (0, 0), (-1, -1), 0.5, GRID),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
    if header:
        commands.append(("BACKGROUND", (0, 0), (-1, 0), HEAD))
    else:
        commands += [("BACKGROUND", (0, 0), (0, -1), HEAD)]
    table.setStyle(TableStyle(commands))
    return table


def _section(
    p: Any,
    t: Translator,
    heads: list[str],
    rows: list[list[str]],
    shares: list[float],
    width: float,
    amounts: frozenset[int] | set[int] = frozenset(),
) -> Any:
    if not rows:
        return p(t("statement.none"))
    head = [
        p(t(h) if h.startswith("statement.") else h, "label_right" if n in amounts else "label")
        for n, h in enumerate(heads)
    ]
    body = [[p(v, "amount" if n in amounts else "cell") for n, v in enumerate(row)] for row in rows]
    return _grid([head, *body], [s * width for s in shares])
