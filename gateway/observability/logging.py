"""Structured logs: one JSON object per line, carrying the request id (``X-Request-ID``, honoured
or made) and the claim id where known, and never a resident ID number: anything shaped like
one is masked on the way out, whatever a message or a library put in it."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from gateway.asgi_middleware import HttpMiddleware
from gateway.domain.identity import mask_id_number

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
ID_NUMBER = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])")
STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}
STANDARD |= {"color_message"}  # uvicorn's copy of the message with terminal colours
log = logging.getLogger("ltc_gateway.access")


def scrub(text: str) -> str:
    return ID_NUMBER.sub(lambda m: mask_id_number(m.group(0)), text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = REQUEST_ID.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, int | float | bool) or value is None else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return scrub(json.dumps(entry, ensure_ascii=False))


def configure(level: str = "INFO", json_logs: bool = True) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter() if json_logs else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("ltc_gateway").setLevel(level)


def uvicorn_log_config(level: str = "INFO") -> dict[str, Any]:
    """uvicorn's own log lines (start, stop, errors) as JSON like the gateway's, in every process
    (uvicorn applies it in each worker it starts). Access lines stay off: the gateway writes its own."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"json": handler},
        "loggers": {
            "uvicorn": {"handlers": ["json"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": ["json"], "level": "WARNING", "propagate": False},
        },
    }


class RequestIdMiddleware(HttpMiddleware):
    """Every request gets an id (the caller's ``X-Request-ID`` if it sent a sane one), echoed in
    the response and carried by every log line written while it is served; one access line each."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        # ours in the canonical form: 32 hex digits in one run could hold 18 decimal ones, which
        # the log scrubber would mask as a resident ID number (about one id in 500)
        request_id = given if re.fullmatch(r"[A-Za-z0-9._:-]{1,64}", given) else str(uuid.uuid4())
        token = REQUEST_ID.set(request_id)
        started, status = time.perf_counter(), 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            REQUEST_ID.reset(token)
