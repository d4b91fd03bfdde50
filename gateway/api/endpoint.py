"""One way to write an endpoint: authenticate the bearer key, check the role, read the JSON body,
then run the use case in a worker thread inside one database transaction."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from gateway.api import idempotency
from gateway.api.contract import Contract
from gateway.errors import Forbidden, Malformed, Unauthenticated
from gateway.parsing import load_json
from gateway.services.keys import Principal, Role, admit, authenticate, authenticate_many
from gateway.storage.group_commit import Batcher


@dataclass(frozen=True, slots=True)
class Call:
    request: Request
    session: Session
    principal: Principal
    body: Any

    @property
    def gateway(self) -> Any:
        return self.request.app.state.gateway

    def param(self, name: str) -> str:
        return str(self.request.path_params[name])


Handler = Callable[[Call], Response]
BatchHandler = Callable[[Session, list[Call]], list[Response | Exception]]


def endpoint(
    *roles: Role,
    body: str | None = None,
    raw: tuple[str, ...] = (),
    remember: bool = True,
    **promised: Any,
) -> Callable[[Handler], Callable[[Request], Any]]:
    """``roles`` may call it; ``body`` names the JSON Schema (``schemas/<body>.schema.json``) of its
    request body, which the use case validates against and the API description publishes.
    ``raw``: media types accepted as they are (``call.body`` is ``(media type, bytes)``).
    ``remember=False``: a read sent as a POST (to keep an ID number out of the URL) whose answer
    holds personal data: an Idempotency-Key is ignored, so the answer is never stored.
    ``promised``: the rest of its contract (``gateway.api.contract.Contract``: ``status``,
    ``response``, ``query``, ``answers``, ...), which the OpenAPI description publishes."""
    allowed = frozenset(roles)

    def wrap(handler: Handler) -> Callable[[Request], Any]:
        async def asgi_endpoint(request: Request) -> Response:
            key = bearer_key(request)
            document = await read_raw(request, raw) if raw else await read_json(request) if body else None
            sessions = request.app.state.gateway.sessions
            once = idempotency.key_of(request) if request.method == "POST" and remember else None
            fingerprint = idempotency.digest(request, await request.body()) if once else ""

            def work() -> Response:
                with sessions.begin() as session:
                    principal = admit(authenticate(session, key), allowed)
                    if once is None:
                        return handler(Call(request, session, principal, document))
                    stored = idempotency.replay(session, principal, once, fingerprint)
                    if stored is not None:
                        return stored
                    response = handler(Call(request, session, principal, document))
                    idempotency.remember(session, principal, once, response)
                    return response

            try:
                return await run_in_threadpool(work)
            except IntegrityError:
                if once is None:
                    raise
                # A concurrent request with the same key won: its answer is committed now.
                return await run_in_threadpool(work)

        asgi_endpoint.__name__ = handler.__name__
        asgi_endpoint.__doc__ = handler.__doc__
        asgi_endpoint.roles = allowed  # type: ignore[attr-defined]
        asgi_endpoint.body_schema = body  # type: ignore[attr-defined]
        media = raw or (("application/json",) if body else ())
        asgi_endpoint.body_media = media  # type: ignore[attr-defined]
        asgi_endpoint.contract = _contract(allowed, body, media, idempotent=remember, **promised)  # type: ignore[attr-defined]
        return asgi_endpoint

    return wrap


def batched(
    *roles: Role, body: str, max_batch: int = 100, lanes: int = 1, **promised: Any
) -> Callable[[BatchHandler], Callable[[Request], Any]]:
    """``endpoint`` for a use case that takes many requests at once: concurrent requests are
    authenticated and handled together, in one transaction (``gateway.storage.group_commit``), each
    with its own answer. A request with an Idempotency-Key goes alone, through ``endpoint``, so
    that its answer is kept with the key in the transaction that does the work. One lane per
    process by default: a server runs a process per core, and larger batches spend less CPU per
    request than overlapping smaller ones (``python -m bench --only accept``)."""
    allowed = frozenset(roles)

    def wrap(handler: BatchHandler) -> Callable[[Request], Any]:
        def one(call: Call) -> Response:
            outcome = handler(call.session, [call])[0]
            if isinstance(outcome, Exception):
                raise outcome
            return outcome

        alone = endpoint(*roles, body=body, **promised)(one)

        def run(items: list[tuple[Request, str, Any]]) -> list[Response | Exception]:
            outcomes: list[Response | Exception] = [RuntimeError("not run")] * len(items)
            groups: dict[int, list[int]] = {}  # by gateway: a process may serve several (tests)
            for n, (request, _, _) in enumerate(items):
                groups.setdefault(id(request.app.state.gateway), []).append(n)
            for members in groups.values():
                try:
                    results = run_together([items[n] for n in members])
                except Exception:
                    if len(members) == 1:
                        raise
                    # one bad request must not fail the others: each again, alone
                    results = [run_alone(items[n]) for n in members]
                for n, result in zip(members, results, strict=True):
                    outcomes[n] = result
            return outcomes

        def run_alone(item: tuple[Request, str, Any]) -> Response | Exception:
            try:
                return run_together([item])[0]
            except Exception as error:
                return error

        def run_together(items: list[tuple[Request, str, Any]]) -> list[Response | Exception]:
            with items[0][0].app.state.gateway.sessions.begin() as session:
                principals = authenticate_many(session, {key for _, key, _ in items})
                outcomes: list[Response | Exception] = []
                calls: list[tuple[int, Call]] = []
                for n, (request, key, document) in enumerate(items):
                    try:
                        principal = admit(principals.get(key), allowed)
                    except (Unauthenticated, Forbidden) as refused:
                        outcomes.append(refused)
                    else:
                        outcomes.append(RuntimeError("not handled"))
                        calls.append((n, Call(request, session, principal, document)))
                if calls:
                    handled = handler(session, [call for _, call in calls])
                    for (n, _), outcome in zip(calls, handled, strict=True):
                        outcomes[n] = outcome
            return outcomes

        batcher = Batcher(run, max_batch=max_batch, lanes=lanes, in_thread=run_in_threadpool)

        async def asgi_endpoint(request: Request) -> Response:
            if idempotency.key_of(request) is not None:
                return await alone(request)
            key = bearer_key(request)
            document = await read_json(request)
            response: Response = await batcher.submit((request, key, document))
            return response

        asgi_endpoint.__name__ = handler.__name__
        asgi_endpoint.__doc__ = handler.__doc__
        asgi_endpoint.roles = allowed  # type: ignore[attr-defined]
        asgi_endpoint.body_schema = body  # type: ignore[attr-defined]
        asgi_endpoint.body_media = ("application/json",)  # type: ignore[attr-defined]
        asgi_endpoint.batcher = batcher  # type: ignore[attr-defined]
        asgi_endpoint.contract = alone.contract  # type: ignore[attr-defined]
        return asgi_endpoint

    return wrap


def _contract(
    roles: frozenset[Role], body: str | None, media: tuple[str, ...], idempotent: bool, **promised: Any
) -> Contract:
    status = promised.pop("status", 200)
    return Contract(
        roles=roles,
        body=body,
        media=media,
        status=status if isinstance(status, tuple) else (status,),
        idempotent=idempotent,
        **promised,
    )


def bearer_key(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthenticated("send an API key as 'Authorization: Bearer <key>'")
    return key.strip()


async def read_json(request: Request) -> Any:
    media = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise Malformed(f"expected an application/json body, got {media}")
    raw = await request.body()
    try:
        document = load_json(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
        raise Malformed(f"the body is not valid JSON: {type(error).__name__}") from None
    # a body of fewer than MAX_DEPTH brackets cannot nest deeper (no need to walk it)
    if raw.count(b"{") + raw.count(b"[") >= MAX_DEPTH and _depth(document) > MAX_DEPTH:
        raise Malformed(f"the body nests deeper than {MAX_DEPTH} levels")
    return document


MAX_DEPTH = 32  # our documents nest 5 deep; a deeper one is an attack on the parser, not a claim


def _depth(node: Any, level: int = 1) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(node, dict):
        return max((_depth(v, level + 1) for v in node.values()), default=level)
    if isinstance(node, list):
        return max((_depth(v, level + 1) for v in node), default=level)
    return level


async def read_raw(request: Request, accepted: tuple[str, ...]) -> tuple[str, bytes]:
    media = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if media not in accepted:
        raise Malformed(f"expected a body of type {' or '.join(accepted)}, got {media}")
    return media, await request.body()


async def authorise(request: Request, *roles: Role) -> Principal:
    """For endpoints that manage their own transactions (long runs): the caller, checked."""
    key = bearer_key(request)
    sessions = request.app.state.gateway.sessions

    def check() -> Principal:
        with sessions.begin() as session:
            principal = authenticate(session, key)
        return admit(principal, roles)

    return await run_in_threadpool(check)
