"""Operations endpoints, open to anyone: liveness and readiness."""

from __future__ import annotations

from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.api.contract import contract
from gateway.storage.migrate import current_revision, head_revision


@contract(response="health")
async def healthz(request: Request) -> Response:
    """The process is up."""
    return JSONResponse({"status": "ok"})


@contract(status=(200, 503), response="readiness")
async def readyz(request: Request) -> Response:
    """The database answers and its schema is at the latest migration."""
    engine = request.app.state.gateway.engine

    def check() -> tuple[bool, dict[str, str | None]]:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            current = current_revision(engine)
        except Exception as error:  # any failure to reach the database means not ready
            return False, {"database": f"unreachable: {type(error).__name__}"}
        head = head_revision()
        return current == head, {"database": "ok", "schema": current, "expected_schema": head}

    ready, detail = await run_in_threadpool(check)
    return JSONResponse(
        {"status": "ready" if ready else "not ready", **detail}, status_code=200 if ready else 503
    )


routes = [Route("/healthz", healthz, methods=["GET"]), Route("/readyz", readyz, methods=["GET"])]
