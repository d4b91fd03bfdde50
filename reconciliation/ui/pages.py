"""The staff pages. A reconciler signs in with their own API key (kept in an HttpOnly, SameSite
Strict cookie, so other sites cannot post forms as them); every page and action goes through the
same use cases as the API (``reconciliation.queue``, ``reconciliation.run``)."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlencode
from xml.sax.saxutils import escape

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from gateway.audit import actor_of
from gateway.domain.money import yuan
from gateway.domain.numbers import whole_number
from gateway.services import claims
from gateway.services.errors import ServiceError
from gateway.services.keys import Principal, Role, authenticate
from gateway.storage.tables import ReconciliationRunRow
from reconciliation import queue
from reconciliation.matching import MISMATCHES, Kind
from reconciliation.run import run_view
from reconciliation.ui.i18n import LANGUAGES, translator

COOKIE, LANG_COOKIE = "ltc_staff_key", "ltc_lang"
_OOXML = "http://schemas.openxmlformats.org"
STAFF = (Role.RECONCILER, Role.BUREAU)
templates = Environment(
    loader=PackageLoader("reconciliation.ui", "templates"), autoescape=select_autoescape(["html"])
)


def _lang(request: Request) -> str:
    wanted = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE) or "zh"
    return wanted if wanted in LANGUAGES else "zh"


def _render(
    request: Request, name: str, principal: Principal | None, status: int = 200, **values: Any
) -> Response:
    lang = _lang(request)
    here = {k: v for k, v in request.query_params.items() if k not in ("message", "problem")}
    other = {**here, "lang": "en" if lang == "zh" else "zh"}
    html = templates.get_template(name).render(
        language_href="?" + urlencode(other),
        t=translator(lang),
        lang=lang,
        principal=principal,
        yuan=yuan,
        message=request.query_params.get("message"),
        problem=values.pop("problem", request.query_params.get("problem")),
        **values,
    )
    response = HTMLResponse(html, status_code=status)
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, samesite="strict")
    return response


async def _principal(request: Request) -> Principal | None:
    key = request.cookies.get(COOKIE)
    if not key:
        return None
    sessions = request.app.state.gateway.sessions

    def find() -> Principal | None:
        with sessions.begin() as session:
            principal = authenticate(session, key)
        return principal if principal is not None and principal.role in STAFF else None

    return await run_in_threadpool(find)


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form (all our forms are), read without a multipart parser."""
    body = (await request.body()).decode("utf-8")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


def _to_login() -> Response:
    return RedirectResponse("/ui/login", status_code=303)


async def login_page(request: Request) -> Response:
    return _render(request, "login.html", None)


async def login(request: Request) -> Response:
    key = (await _form(request)).get("key", "").strip()
    sessions = request.app.state.gateway.sessions

    def check() -> Principal | None:
        with sessions.begin() as session:
            return authenticate(session, key)

    principal = await run_in_threadpool(check) if key else None
    if principal is None or principal.role not in STAFF:
        t = translator(_lang(request))
        return _render(request, "login.html", None, status=401, problem=t("bad_key"))
    response = RedirectResponse("/ui/", status_code=303)
    response.set_cookie(COOKIE, key, httponly=True, samesite="strict")
    return response


async def logout(request: Request) -> Response:
    response = _to_login()
    response.delete_cookie(COOKIE)
    return response


async def runs_page(request: Request) -> Response:
    principal = await _principal(request)
    if principal is None:
        return _to_login()
    gateway = request.app.state.gateway

    def load() -> list[dict[str, Any]]:
        with gateway.sessions.begin() as session:
            rows = session.scalars(
                select(ReconciliationRunRow).order_by(ReconciliationRunRow.business_date.desc()).limit(30)
            )
            return [run_view(r) for r in rows]

    runs = await run_in_threadpool(load)
    kinds = [k.value for k in Kind]
    return _render(
        request,
        "runs.html",
        principal,
        runs=runs,
        kinds=kinds,
        chart=chart(list(reversed(runs)), translator(_lang(request))),
        today=gateway.today().isoformat(),
    )


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


async def start_run(request: Request) -> Response:
    principal = await _principal(request)
    if principal is None:
        return _to_login()
    form = await _form(request)
    from reconciliation.api import reconciliation_for

    try:
        day = date.fromisoformat(form.get("business_date", ""))
    except ValueError:
        return RedirectResponse(
            "/ui/?" + urlencode({"problem": "business_date: YYYY-MM-DD"}), status_code=303
        )
    try:
        run = reconciliation_for(request.app.state.gateway).run
        result = await run_in_threadpool(run, day, actor=actor_of(principal))
    except ServiceError as error:
        return RedirectResponse("/ui/?" + urlencode({"problem": error.detail}), status_code=303)
    open_items = sum(result["counts"].get("open", {}).values())
    message = f"{result['business_date']}: {result['status']} · {open_items}"
    return RedirectResponse("/ui/?" + urlencode({"message": message}), status_code=303)


def _query(request: Request) -> dict[str, str]:
    keys = ("kind", "payer", "status", "min_age_days", "min_amount_fen")
    return {k: request.query_params[k] for k in keys if request.query_params.get(k)}


async def _listing(request: Request, limit: int = 200) -> tuple[Principal | None, dict[str, Any]]:
    principal = await _principal(request)
    if principal is None:
        return None, {}
    gateway = request.app.state.gateway

    def load() -> dict[str, Any]:
        with gateway.sessions.begin() as session:
            return queue.list_mismatches(session, _query(request), gateway.today(), limit=limit)

    return principal, await run_in_threadpool(load)


async def queue_page(request: Request) -> Response:
    try:
        principal, listing = await _listing(request)
    except ServiceError as error:
        principal, listing = (
            await _principal(request),
            {"total": 0, "mismatches": [], "problem": error.detail},
        )
    if principal is None:
        return _to_login()
    query = _query(request)
    return _render(
        request,
        "queue.html",
        principal,
        total=listing["total"],
        mismatches=listing["mismatches"],
        query=query,
        query_string=urlencode(query),
        mismatch_kinds=MISMATCHES,
        statuses=[*queue.ACTIVE, "resolved", "cleared"],
        problem=listing.get("problem"),
    )


EXPORT_COLUMNS = (
    "id",
    "kind",
    "payer_code",
    "claim_id",
    "line_no",
    "expected_fen",
    "settled_fen",
    "difference_fen",
    "status",
    "first_seen",
    "age_days",
)


async def queue_csv(request: Request) -> Response:
    principal, listing = await _listing(request, limit=100_000)
    if principal is None:
        return _to_login()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    for m in listing["mismatches"]:
        writer.writerow([m[c] for c in EXPORT_COLUMNS])
    return Response(
        "\ufeff" + out.getvalue(),  # a BOM so spreadsheet programs read the UTF-8 as UTF-8
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="mismatches.csv"'},
    )


async def queue_xlsx(request: Request) -> Response:
    principal, listing = await _listing(request, limit=100_000)
    if principal is None:
        return _to_login()
    rows = [list(EXPORT_COLUMNS), *([m[c] for c in EXPORT_COLUMNS] for m in listing["mismatches"])]
    return Response(
        xlsx(rows, "mismatches"),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": 'attachment; filename="mismatches.xlsx"'},
    )


def xlsx(rows: list[list[Any]], sheet: str) -> bytes:
    """A one-sheet workbook in the Office Open XML format (numbers as numbers, text inline)."""

    def cell(ref: str, value: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            return f'<c r="{ref}"><v>{value}</v></c>'
        return f'<c r="{ref}" t="inlineStr"><is><t>{escape(str(value))}</t></is></c>'

    def column(n: int) -> str:
        name = ""
        while n:
            n, rest = divmod(n - 1, 26)
            name = chr(65 + rest) + name
        return name

    body = "".join(
        f'<row r="{r}">' + "".join(cell(f"{column(c)}{r}", v) for c, v in enumerate(row, start=1)) + "</row>"
        for r, row in enumerate(rows, start=1)
    )
    xml = '<?xml version="1.0" encoding="UTF-8"?>'
    package, office = "http://schemas.openxmlformats.org/package/2006", f"{_OOXML}/officeDocument/2006"
    sheet_type = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    parts = {
        "[Content_Types].xml": (
            f'{xml}<Types xmlns="{package}/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{sheet_type}.sheet.main+xml"/>'
            f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{sheet_type}.worksheet+xml"/>'
            "</Types>"
        ),
        "_rels/.rels": (
            f'{xml}<Relationships xmlns="{package}/relationships">'
            f'<Relationship Id="rId1" Type="{office}/relationships/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>"
        ),
        "xl/workbook.xml": (
            f'{xml}<workbook xmlns="{_OOXML}/spreadsheetml/2006/main" xmlns:r="{office}/relationships">'
            f'<sheets><sheet name="{escape(sheet)}" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            f'{xml}<Relationships xmlns="{package}/relationships">'
            f'<Relationship Id="rId1" Type="{office}/relationships/worksheet" '
            'Target="worksheets/sheet1.xml"/>'
            "</Relationships>"
        ),
        "xl/worksheets/sheet1.xml": (
            f'{xml}<worksheet xmlns="{_OOXML}/spreadsheetml/2006/main">'
            f"<sheetData>{body}</sheetData></worksheet>"
        ),
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    return out.getvalue()


async def mismatch_page(request: Request) -> Response:
    principal = await _principal(request)
    if principal is None:
        return _to_login()
    gateway = request.app.state.gateway

    def load() -> tuple[dict[str, Any], dict[str, Any] | None]:
        with gateway.sessions.begin() as session:
            found = queue.get_mismatch(session, queue.parse_id(request.path_params["id"]), gateway.today())
            try:
                claim = claims.claim_view(session, principal, found["claim_id"])
            except ServiceError:
                claim = None
            return found, claim

    try:
        found, claim = await run_in_threadpool(load)
    except ServiceError as error:
        return _render(
            request,
            "queue.html",
            principal,
            status=error.status,
            problem=error.detail,
            total=0,
            mismatches=[],
            query={},
            query_string="",
            mismatch_kinds=MISMATCHES,
            statuses=[],
        )
    actions = (
        ["approve"] if found["status"] == "pending_approval" else [a for a in queue.ACTIONS if a != "approve"]
    )
    return _render(
        request, "mismatch.html", principal, m=found, claim=claim, actions=actions, active=queue.ACTIVE
    )


async def resolve(request: Request) -> Response:
    principal = await _principal(request)
    if principal is None:
        return _to_login()
    if principal.role != Role.RECONCILER:
        return RedirectResponse(
            f"{request.url.path.rsplit('/', 1)[0]}?problem=reconcilers+only", status_code=303
        )
    form = await _form(request)
    document: dict[str, Any] = {"action": form.get("action", ""), "note": form.get("note", "")}
    if form.get("amount_fen", "").strip():
        amount = form["amount_fen"].strip()
        number = whole_number(amount)
        document["amount_fen"] = amount if number is None else number
    gateway = request.app.state.gateway
    mismatch_id = request.path_params["id"]

    def act() -> dict[str, Any]:
        with gateway.sessions.begin() as session:
            return queue.resolve(
                session,
                principal,
                queue.parse_id(mismatch_id),
                document,
                write_off_approval_fen=gateway.settings.write_off_approval_fen,
                catalogue=gateway.catalogue,
                today=gateway.today(),
            )

    back = f"/ui/mismatches/{mismatch_id}"
    try:
        result = await run_in_threadpool(act)
    except ServiceError as error:
        detail = error.detail if not error.faults else "; ".join(f"{p}: {d}" for p, d in error.faults)
        return RedirectResponse(back + "?" + urlencode({"problem": detail}), status_code=303)
    t = translator(_lang(request))
    message = f"{t(document['action'], 'actions')} → {t(result['status'], 'statuses')}"
    return RedirectResponse(back + "?" + urlencode({"message": message}), status_code=303)


routes = [
    Route("/ui/login", login_page, methods=["GET"]),
    Route("/ui/login", login, methods=["POST"]),
    Route("/ui/logout", logout, methods=["GET"]),
    Route("/ui/", runs_page, methods=["GET"]),
    Route("/ui/runs", start_run, methods=["POST"]),
    Route("/ui/queue", queue_page, methods=["GET"]),
    Route("/ui/queue.csv", queue_csv, methods=["GET"]),
    Route("/ui/queue.xlsx", queue_xlsx, methods=["GET"]),
    Route("/ui/mismatches/{id}", mismatch_page, methods=["GET"]),
    Route("/ui/mismatches/{id}/resolve", resolve, methods=["POST"]),
]
