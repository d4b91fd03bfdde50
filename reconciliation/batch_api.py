"""Settlement batches through their clearing lifecycle in the public API
(``/v1/reconciliation/settlement-batches``): the list, declaring (申报), a batch, its transitions
(初审, 复核, 拨付, 清算) and its files (the batch and its payment file, XLSX or CSV)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.api.endpoint import Call, endpoint
from gateway.domain.numbers import INT32
from gateway.services.keys import Role
from reconciliation import batch_files, batches, clearing

READERS = (Role.RECONCILER, Role.BUREAU, Role.PAYER)  # a payer's key: its own batches only
STAFF = (Role.RECONCILER, Role.BUREAU)
LIST_QUERY: dict[str, dict[str, Any]] = {
    "payer": {"type": "string", "description": "only this payer's (a payer's key: its own anyway)"},
    "period": {"type": "string", "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])$", "description": "YYYY-MM"},
    "status": {"type": "string", "description": f"comma-separated: {', '.join(clearing.STATES)}"},
    "offset": {"type": "integer", "minimum": 0, "default": 0},
    "limit": {"type": "integer", "minimum": 1, "maximum": batches.MAX_PAGE, "default": batches.PAGE},
}
BATCH_ID = {
    "id": {"type": "integer", "minimum": 1, "maximum": INT32, "description": "a settlement batch's id"}
}


@endpoint(*READERS, response="settlement-batches", query=LIST_QUERY)
def get_settlement_batches(call: Call) -> Response:
    """Settlement batches, newest first, by payer, period and status."""
    return JSONResponse(batches.list_batches(call.session, call.principal, dict(call.request.query_params)))


@endpoint(
    Role.RECONCILER,
    body="settlement-batch",
    status=201,
    response="settlement-batch",
    answers=(409,),
    location=True,
)
def declare_settlement_batch(call: Call) -> Response:
    """申报: declare a payer's batch for a period (its pending adjustments of the period or earlier)."""
    batch = batches.declare(call.session, call.principal, call.body, call.gateway.today())
    location = f"/v1/reconciliation/settlement-batches/{batch['batch_id']}"
    return JSONResponse(batch, status_code=201, headers={"Location": location})


@endpoint(*READERS, response="settlement-batch", path=BATCH_ID)
def get_settlement_batch(call: Call) -> Response:
    """A settlement batch: items, totals, history and the actions the caller may take now."""
    return JSONResponse(batches.view(call.session, call.principal, batches.parse_id(call.param("id"))))


@endpoint(*STAFF, body="settlement-transition", response="settlement-batch", answers=(409,), path=BATCH_ID)
def post_settlement_transition(call: Call) -> Response:
    """初审, 复核 (another person), 拨付 (with the payment reference) or 清算; audited."""
    batch = batches.transition(
        call.session,
        call.principal,
        batches.parse_id(call.param("id")),
        call.body,
        approval_fen=call.gateway.settings.settlement_approval_fen,
    )
    return JSONResponse(batch)


def _file(call: Call, document: str, kind: str) -> Response:
    batch = batches.view(call.session, call.principal, batches.parse_id(call.param("id")), item_limit=None)
    content, media, name = batch_files.export(batch, document, kind)
    disposition = f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"
    return Response(content, media_type=media, headers={"Content-Disposition": disposition})


@endpoint(*READERS, produces=(batch_files.XLSX,), path=BATCH_ID)
def get_settlement_batch_xlsx(call: Call) -> Response:
    """The batch as an Excel workbook: one row per item, yuan, a totals row."""
    return _file(call, "batch", "xlsx")


@endpoint(*READERS, produces=("text/csv",), path=BATCH_ID)
def get_settlement_batch_csv(call: Call) -> Response:
    """The batch as CSV (UTF-8 with a BOM), one row per item, yuan."""
    return _file(call, "batch", "csv")


@endpoint(*READERS, produces=(batch_files.XLSX,), path=BATCH_ID)
def get_payment_xlsx(call: Call) -> Response:
    """The batch's payment file as an Excel workbook: one row per payee, net yuan, the reference."""
    return _file(call, "payment", "xlsx")


@endpoint(*READERS, produces=("text/csv",), path=BATCH_ID)
def get_payment_csv(call: Call) -> Response:
    """The batch's payment file as CSV: one row per payee, net yuan, the payment reference."""
    return _file(call, "payment", "csv")


PATH = "/v1/reconciliation/settlement-batches"
routes = [
    Route(PATH, get_settlement_batches, methods=["GET"]),
    Route(PATH, declare_settlement_batch, methods=["POST"]),
    # the files first: ``{id}`` alone would take "12.xlsx" too
    Route(PATH + "/{id}.xlsx", get_settlement_batch_xlsx, methods=["GET"]),
    Route(PATH + "/{id}.csv", get_settlement_batch_csv, methods=["GET"]),
    Route(PATH + "/{id}/payment-file.xlsx", get_payment_xlsx, methods=["GET"]),
    Route(PATH + "/{id}/payment-file.csv", get_payment_csv, methods=["GET"]),
    Route(PATH + "/{id}", get_settlement_batch, methods=["GET"]),
    Route(PATH + "/{id}/transitions", post_settlement_transition, methods=["POST"]),
]
