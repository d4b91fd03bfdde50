"""The accept path's baseline: the essential work of accepting a claim and nothing else, as lean
as this stack allows, so that the gateway's figure is read against the machine of the day.

Raw Starlette and async psycopg, one process per core (``uvicorn --workers``). A request is read
and checked against the gateway's own claim schema (``schemas.faults``: a 422 naming the field),
its bearer key compared, its member's ID number turned into a keyed hash (never stored plain),
then queued; one task per process writes whatever is queued, up to ``MAX_BATCH`` claims, in one
transaction (group commit): one ``INSERT ... SELECT FROM unnest`` for the claims, keyed by
(provider, claim number) as the idempotency key with ``ON CONFLICT DO NOTHING``, and one for
their lines. Each request is answered 202 with its receipt, or with the first receipt when its
claim number was taken. No ORM, no SQL compiled per request, one round trip a table a batch.

Served by ``bench.accept`` with ``uvicorn bench.accept_baseline:app``; its tables are made by
``create_tables`` in the benchmark's own schema.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import schemas

MAX_BATCH = 100
COLUMNS: tuple[str, ...] = (
    "claim_id",
    "provider_code",
    "claim_number",
    "member_hash",
    "assessment_id",
    "period_start",
)
COLUMNS += ("period_end", "billed_fen", "request_digest")
TABLES = """
CREATE TABLE IF NOT EXISTS bare_claims (
    claim_id uuid PRIMARY KEY, provider_code text NOT NULL, claim_number text NOT NULL,
    member_hash text NOT NULL, assessment_id uuid NOT NULL, period_start date NOT NULL,
    period_end date NOT NULL, billed_fen bigint NOT NULL, request_digest text NOT NULL,
    created_at timestamptz NOT NULL, UNIQUE (provider_code, claim_number));
CREATE TABLE IF NOT EXISTS bare_claim_lines (
    claim_id uuid NOT NULL REFERENCES bare_claims, line_no int NOT NULL, service_code text NOT NULL,
    setting text NOT NULL, method text NOT NULL, service_date date NOT NULL, service_end_date date,
    quantity int NOT NULL, unit_price_fen bigint NOT NULL, billed_fen bigint NOT NULL,
    PRIMARY KEY (claim_id, line_no));
"""
CLAIMS = """
INSERT INTO bare_claims SELECT * FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::text[], %s::uuid[],
    %s::date[], %s::date[], %s::bigint[], %s::text[], %s::timestamptz[])
ON CONFLICT (provider_code, claim_number) DO NOTHING RETURNING claim_id"""
LINES = """
INSERT INTO bare_claim_lines SELECT * FROM unnest(%s::uuid[], %s::int[], %s::text[], %s::text[],
    %s::text[], %s::date[], %s::date[], %s::int[], %s::bigint[], %s::bigint[])"""
TAKEN = """
SELECT claim_number, claim_id, request_digest, created_at FROM bare_claims
WHERE provider_code = %s AND claim_number = ANY(%s)"""


def libpq(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://``) as libpq takes it."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def create_tables(url: str) -> None:
    import psycopg

    with psycopg.connect(libpq(url), autocommit=True) as connection:
        connection.execute(TABLES)


class Accepting:
    """The process's queue of checked claims and the one task that writes them, a batch a
    transaction: a lone claim is written at once, those that arrive meanwhile form the next batch."""

    def __init__(self, url: str) -> None:
        self.url = libpq(url)
        self.queue: list[tuple[dict[str, Any], asyncio.Future[dict[str, Any]]]] = []
        self.wake = asyncio.Event()
        self.connection: Any = None

    async def run(self) -> None:
        import psycopg

        self.connection = await psycopg.AsyncConnection.connect(self.url, prepare_threshold=0)
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.queue:
                batch, self.queue = self.queue[:MAX_BATCH], self.queue[MAX_BATCH:]
                try:
                    receipts = await self.write([claim for claim, _ in batch])
                except Exception as error:  # the batch failed as a whole: every caller hears of it
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                    continue
                for (_, future), receipt in zip(batch, receipts, strict=True):
                    if not future.done():
                        future.set_result(receipt)

    async def submit(self, claim: dict[str, Any]) -> dict[str, Any]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.queue.append((claim, future))
        self.wake.set()
        return await future

    async def write(self, claims: list[dict[str, Any]]) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        columns = COLUMNS
        arrays = [[c[name] for c in claims] for name in columns] + [[now] * len(claims)]
        async with self.connection.transaction():
            cursor = await self.connection.execute(CLAIMS, arrays)
            new = {row[0] for row in await cursor.fetchall()}
            lines = [line for c in claims if c["claim_id"] in new for line in c["lines"]]
            if lines:
                await self.connection.execute(LINES, [list(column) for column in zip(*lines, strict=True)])
            taken = [c["claim_number"] for c in claims if c["claim_id"] not in new]
            earlier = {}
            if taken:
                cursor = await self.connection.execute(TAKEN, [claims[0]["provider_code"], taken])
                earlier = {row[0]: row[1:] for row in await cursor.fetchall()}
        receipts = []
        for c in claims:
            if c["claim_id"] in new:
                receipts.append(_receipt(c["claim_id"], c["claim_number"], now))
                continue
            claim_id, stored_digest, created = earlier[c["claim_number"]]
            if stored_digest != c["request_digest"]:
                receipts.append({"conflict": c["claim_number"]})
            else:
                receipts.append(_receipt(claim_id, c["claim_number"], created))
        return receipts


def _receipt(claim_id: uuid.UUID, number: str, at: datetime) -> dict[str, Any]:
    return {
        "claim_id": str(claim_id),
        "claim_number": number,
        "status": "received",
        "received_at": at.isoformat(),
    }


def _problem(status: int, title: str, **more: Any) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, **more}
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


SECRET = os.environ.get("BENCH_SECRET", "bench").encode()
KEY = hashlib.sha256(os.environ.get("BENCH_KEY", "").encode()).digest()
PROVIDER = os.environ.get("BENCH_PROVIDER", "")
accepting = Accepting(os.environ.get("BENCH_URL", ""))


async def post_claim(request: Request) -> Response:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(hashlib.sha256(key.encode()).digest(), KEY):
        return _problem(401, "Unauthenticated")
    raw = await request.body()
    try:
        document = json.loads(raw)
    except ValueError:
        return _problem(400, "Malformed")
    faults = schemas.faults("claim", document)
    if faults:
        return _problem(422, "Invalid", errors=[{"pointer": p, "detail": d} for p, d in faults])
    claim_id = uuid.uuid4()
    lines = [
        (
            *(claim_id, line["line_no"], line["service_code"], line["setting"], line["method"]),
            *(date.fromisoformat(line["service_date"]), _date(line.get("service_end_date"))),
            *(line["quantity"], line["unit_price_fen"], line["billed_fen"]),
        )
        for line in document["lines"]
    ]
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    claim = {
        "claim_id": claim_id,
        "provider_code": PROVIDER,
        "claim_number": document["claim_number"],
        "member_hash": hmac.new(SECRET, document["member_id_number"].encode(), hashlib.sha256).hexdigest(),
        "assessment_id": uuid.UUID(document["assessment_id"]),
        "period_start": date.fromisoformat(document["period"]["start"]),
        "period_end": date.fromisoformat(document["period"]["end"]),
        "billed_fen": sum(line["billed_fen"] for line in document["lines"]),
        "request_digest": hashlib.sha256(canonical.encode()).hexdigest(),
        "lines": lines,
    }
    receipt = await accepting.submit(claim)
    if "conflict" in receipt:
        return _problem(409, "Conflict", detail=f"claim number {receipt['conflict']} has another body")
    return JSONResponse(receipt, status_code=202, headers={"Location": f"/v1/claims/{receipt['claim_id']}"})


def _date(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    task = asyncio.create_task(accepting.run())
    yield
    task.cancel()


app = Starlette(routes=[Route("/v1/claims", post_claim, methods=["POST"])], lifespan=lifespan)
