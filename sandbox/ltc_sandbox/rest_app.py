"""The REST sandbox payer: a Starlette app in front of a SandboxPayer."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.sdk import Decision
from ltc_sandbox.payer import Faults, Outcome, SandboxPayer


def rest_payer_app(payer: SandboxPayer, token: str | None = None) -> Starlette:
    # a payer answers many submissions at once, each after its latency (a blocking sleep):
    # asyncio's default pool (cpu count + 4 threads) capped one at 30 answers/s at 200 ms
    answering = ThreadPoolExecutor(64, thread_name_prefix=f"sandbox-{payer.payer_code}")

    def authorised(request: Request) -> bool:
        return token is None or request.headers.get("authorization") == f"Bearer {token}"

    async def submit_share(request: Request) -> Response:
        if not authorised(request):
            return JSONResponse({"error": "unauthorised"}, status_code=401)
        try:
            wire = await request.json()
        except json.JSONDecodeError:
            return JSONResponse({"error": "the body is not JSON"}, status_code=400)
        if not isinstance(wire, dict) or request.headers.get("idempotency-key") != wire.get(
            "idempotency_key"
        ):
            return JSONResponse(
                {"error": "Idempotency-Key header must equal idempotency_key"}, status_code=400
            )
        try:
            outcome = await asyncio.get_running_loop().run_in_executor(answering, payer.submit_share, wire)
        except (KeyError, TypeError, ValueError) as error:
            return JSONResponse({"error": f"cannot adjudicate: {error}"}, status_code=422)
        if outcome == Outcome.FAIL:
            return JSONResponse({"error": "temporarily unavailable"}, status_code=503)
        if outcome == Outcome.CONFLICT:
            return JSONResponse({"error": "idempotency key reused with another body"}, status_code=409)
        if outcome == Outcome.MALFORMED:
            return Response(b'{"status": "decided", "lines": [', media_type="application/json")
        assert isinstance(outcome, Decision)
        return JSONResponse(outcome.to_wire())

    async def fetch_decision(request: Request) -> Response:
        if not authorised(request):
            return JSONResponse({"error": "unauthorised"}, status_code=401)
        decision = payer.fetch_decision(request.path_params["key"])
        if decision is None:
            return JSONResponse({"status": "pending"})
        return JSONResponse(decision.to_wire())

    async def assessments(request: Request) -> Response:
        if not authorised(request):
            return JSONResponse({"error": "unauthorised"}, status_code=401)
        payer.deliver_assessment(await request.json())
        return JSONResponse({"accepted": True})

    async def adjustments(request: Request) -> Response:
        if not authorised(request):
            return JSONResponse({"error": "unauthorised"}, status_code=401)
        payer.submit_adjustment(await request.json())
        return JSONResponse({"accepted": True})

    async def voids(request: Request) -> Response:
        if not authorised(request):
            return JSONResponse({"error": "unauthorised"}, status_code=401)
        payer.submit_void(await request.json())
        return JSONResponse({"accepted": True})

    async def statement(request: Request) -> Response:
        if not authorised(request):
            return JSONResponse({"error": "unauthorised"}, status_code=401)
        day = date.fromisoformat(request.path_params["day"])
        return JSONResponse({"entries": payer.statement(day)})

    async def log(request: Request) -> Response:
        return JSONResponse(payer.log())

    async def faults(request: Request) -> Response:
        changes: dict[str, Any] = await request.json()
        payer.faults = Faults(**{**payer.faults.__dict__, **changes})
        return JSONResponse(payer.faults.__dict__)

    return Starlette(
        routes=[
            Route("/claim-shares", submit_share, methods=["POST"]),
            Route("/claim-shares/{key}", fetch_decision, methods=["GET"]),
            Route("/assessments", assessments, methods=["POST"]),
            Route("/adjustments", adjustments, methods=["POST"]),
            Route("/voids", voids, methods=["POST"]),
            Route("/statements/{day}", statement, methods=["GET"]),
            Route("/_sandbox/log", log, methods=["GET"]),
            Route("/_sandbox/faults", faults, methods=["POST"]),
        ]
    )
