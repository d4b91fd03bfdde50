"""The request body limit (``LTC_MAX_BODY_BYTES``) and the characters a path or query may hold,
answered as problem+json like every error."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from urllib.parse import parse_qsl

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api.problems import PROBLEM
from gateway.asgi_middleware import HttpMiddleware


class BodyLimitMiddleware(HttpMiddleware):
    """``max_bytes`` a request, or the limit ``larger`` gives its path (an uploaded file)."""

    def __init__(self, app: ASGIApp, max_bytes: int, larger: Mapping[str, int] | None = None) -> None:
        super().__init__(app)
        self.max_bytes = max_bytes
        self.larger = dict(larger or {})

    async def _refuse(self, send: Send, limit: int) -> None:
        body = json.dumps(
            {
                "type": "https://ltc-gateway.example/problems/content-too-large",
                "title": "Content too large",
                "status": 413,
                "detail": f"the request body is larger than {limit} bytes",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", PROBLEM.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.larger.get(scope.get("path", ""), self.max_bytes)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(send, limit)
            return
        seen = 0
        refused = False

        async def counted() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    refused = True
                    raise _TooLarge
            return message

        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, sending)
        except _TooLarge:
            if not started:
                await self._refuse(send, limit)


class _TooLarge(Exception):
    """A chunked body grew past the limit while it was read."""


CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ControlCharacterMiddleware(HttpMiddleware):
    """A path or query parameter with a control character is refused (422, naming it) before
    any endpoint sees it: PostgreSQL refuses a NUL in text, which was a server error (and a
    dropped keep-alive connection), and no code, id or filter of ours holds one."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        faults = []
        if CONTROL.search(scope.get("path", "")):
            faults.append({"pointer": _path_parameter(scope), "detail": "must not hold control characters"})
        query = scope.get("query_string", b"").decode("latin-1")
        for name, value in parse_qsl(query, keep_blank_values=True):
            if CONTROL.search(name) or CONTROL.search(value):
                pointer = "/" + CONTROL.sub("", name).replace("~", "~0").replace("/", "~1")
                faults.append({"pointer": pointer, "detail": "must not hold control characters"})
        if not faults:
            await self.app(scope, receive, send)
            return
        body = json.dumps(
            {
                "type": "https://ltc-gateway.example/problems/invalid-request",
                "title": "Invalid request",
                "status": 422,
                "detail": f"{faults[0]['pointer']}: {faults[0]['detail']}",
                "errors": faults,
            }
        ).encode()
        headers = [(b"content-type", PROBLEM.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 422, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _path_parameter(scope: Scope) -> str:
    """The name of the path parameter that holds the control character, by the route the path
    would take; ``/path`` if no route takes it."""
    app = scope.get("app")
    for route in getattr(getattr(app, "router", None), "routes", ()):
        match, child = route.matches(scope)
        if match != Match.NONE:
            for name, value in child.get("path_params", {}).items():
                if isinstance(value, str) and CONTROL.search(value):
                    return f"/{name}"
    return "/path"
