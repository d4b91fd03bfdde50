"""Batch upload over HTTP: a provider's month of claims as one CSV or XLSX file
(``gateway.services.claim_batches``), its template, and the batch with its progress and faults."""

from __future__ import annotations

import logging
import threading
from email import policy
from email.parser import BytesParser

from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.api import idempotency
from gateway.api.contract import contract
from gateway.api.endpoint import Call, authorise, endpoint
from gateway.domain.claim_rows import COLUMNS
from gateway.errors import Conflict, Invalid, Malformed, TooLarge
from gateway.services import batch_files, claim_batches
from gateway.services.keys import Principal, Role
from gateway.storage.personal import signature

log = logging.getLogger("ltc_gateway.api")

PATH = "/v1/claims/batches"
MEDIA = (batch_files.CSV, batch_files.XLSX, "multipart/form-data", "application/octet-stream")
ACCEPT = {
    "accept": {
        "type": "string",
        "enum": list(claim_batches.ACCEPT),
        "default": "all",
        "description": "all: a file with a fault accepts nothing (default); valid: the claims without faults",
    }
}
BATCH_ID = {"batch_id": {"type": "string", "format": "uuid", "description": "the id the upload answered"}}
LANG = {"lang": {"type": "string", "enum": ["zh", "en"], "description": "zh: Chinese headers (default); en"}}


@contract(
    roles=frozenset({Role.PROVIDER}),
    media=MEDIA,
    status=(202, 201, 200),
    response="claim-batch",
    query=ACCEPT,
    location=True,
    idempotent=True,
)
async def post_claim_batch(request: Request) -> Response:
    """Upload a month's claims as one CSV or XLSX file (the template's columns, a row a claim line).

    The file is the body (``text/csv``, the XLSX media type or ``application/octet-stream``), or
    the ``file`` field of a ``multipart/form-data`` form. Every claim is checked as ``POST
    /v1/claims`` checks it, its faults named by row and column in Chinese and English. 201 with the
    finished batch; 202 for a large file, processed in the background (follow Location for the
    progress); 200 with the first batch when the same file is sent again. A file that cannot be
    read (its header, its encoding) is a 422; too large or too many rows a 413."""
    principal = await authorise(request, Role.PROVIDER)
    gateway = request.app.state.gateway
    raw = await request.body()
    if len(raw) > gateway.settings.max_batch_bytes:
        raise TooLarge(f"the file is larger than {gateway.settings.max_batch_bytes} bytes")
    once = idempotency.key_of(request)
    if once is None:
        return await _upload(request, principal, raw)
    # keyed, as the batch's own file key: a plain digest of a file of ID numbers could be guessed
    fingerprint = signature("idempotency", request.url.path.encode() + b"\n" + raw)

    def claim() -> Response | None:
        with gateway.sessions.begin() as session:
            return idempotency.replay(session, principal, once, fingerprint)

    def keep(response: Response | None) -> None:
        with gateway.sessions.begin() as session:
            if response is None:
                idempotency.forget(session, principal, once)
            else:
                idempotency.remember(session, principal, once, response)

    try:
        stored = await run_in_threadpool(claim)
    except IntegrityError:
        stored = await run_in_threadpool(claim)
    if stored is not None:
        if stored.status_code == 0:
            raise Conflict(f"a request with Idempotency-Key {once!r} is still being answered")
        return stored
    try:
        response = await _upload(request, principal, raw)
    except Exception:
        await run_in_threadpool(keep, None)
        raise
    await run_in_threadpool(keep, response)
    return response


async def _upload(request: Request, principal: Principal, raw: bytes) -> Response:
    gateway = request.app.state.gateway
    settings = gateway.settings
    accept = request.query_params.get("accept", "all")
    media, content = file_of(request.headers.get("content-type", ""), raw)
    kind = batch_files.kind_of(media, content)

    def begin() -> claim_batches.Started:
        with gateway.sessions.begin() as session:
            return claim_batches.start(session, principal, content, kind, accept, settings.max_batch_rows)

    try:
        started = await run_in_threadpool(begin)
    except IntegrityError:  # the same file at the same moment: the other request opened its batch
        started = await run_in_threadpool(begin)
    location = {"Location": f"{PATH}/{started.view['batch_id']}"}
    work = started.work
    if work is None:
        return JSONResponse(started.view, status_code=200, headers=location)
    if started.view["progress"]["rows_total"] <= settings.batch_sync_rows:
        done = await run_in_threadpool(claim_batches.process, gateway.sessions, work, gateway.catalogue)
        return JSONResponse(done, status_code=201, headers=location)
    threading.Thread(
        target=claim_batches.run_guarded,
        args=(gateway.sessions, work, gateway.catalogue, log.error),
        daemon=True,
        name=f"claim-batch-{work.batch_id}",
    ).start()
    return JSONResponse(started.view, status_code=202, headers=location)


post_claim_batch.roles = frozenset({Role.PROVIDER})
post_claim_batch.body_media = MEDIA


def file_of(content_type: str, raw: bytes) -> tuple[str, bytes]:
    """The file's media type and bytes: the body itself, or a form's ``file`` field."""
    media = content_type.split(";")[0].strip().lower()
    if media not in MEDIA and media != "text/plain":
        raise Malformed(f"expected a CSV or XLSX file or a multipart form, got {media or 'no media type'}")
    if media != "multipart/form-data":
        return media, raw
    head = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
    form = BytesParser(policy=policy.HTTP).parsebytes(head + raw)
    if not form.is_multipart():
        raise Malformed("the multipart form has no parts (is its boundary right?)")
    for part in form.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            payload = part.get_payload(decode=True)
            return part.get_content_type(), payload if isinstance(payload, bytes) else b""
    raise Invalid([("/file", "is required: send the file as the form's 'file' field")])


@endpoint(Role.PROVIDER, Role.BUREAU, response="claim-batch", path=BATCH_ID)
def get_claim_batch(call: Call) -> Response:
    """An uploaded batch: status, progress (rows checked and submitted of the total), the claims
    it created with their ids, and its faults by row and column (Chinese and English)."""
    return JSONResponse(claim_batches.batch_view(call.session, call.principal, call.param("batch_id")))


def _template(call: Call, kind: str) -> Response:
    english = call.request.query_params.get("lang") == "en"
    headers = [c.key for c in COLUMNS] if english else None
    disposition = f'attachment; filename="claims-template.{kind}"'
    media = batch_files.XLSX if kind == "xlsx" else "text/csv; charset=utf-8"
    return Response(
        batch_files.template(kind, headers), media_type=media, headers={"Content-Disposition": disposition}
    )


@endpoint(Role.PROVIDER, Role.BUREAU, produces=(batch_files.XLSX,), query=LANG)
def get_claim_template_xlsx(call: Call) -> Response:
    """The batch-upload template as an Excel workbook: the Chinese headers and one example row."""
    return _template(call, "xlsx")


@endpoint(Role.PROVIDER, Role.BUREAU, produces=("text/csv",), query=LANG)
def get_claim_template_csv(call: Call) -> Response:
    """The batch-upload template as CSV (UTF-8 with a BOM): the Chinese headers and one example row."""
    return _template(call, "csv")


routes = [
    Route(PATH, post_claim_batch, methods=["POST"]),
    Route(f"{PATH}/template.xlsx", get_claim_template_xlsx, methods=["GET"]),
    Route(f"{PATH}/template.csv", get_claim_template_csv, methods=["GET"]),
    Route(PATH + "/{batch_id}", get_claim_batch, methods=["GET"]),
]
