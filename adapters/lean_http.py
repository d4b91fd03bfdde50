"""The payer calls' hot path over aiohttp: measured at about a fifth of httpx's client CPU a call
(``python -m bench --only payer-calls``, docs/adapters.md). It sends what httpx sends — the same
headers (httpx's defaults written out: Accept, Accept-Encoding, Connection), the same body bytes,
the same timeouts (connect, read, waiting for a pooled connection; keep-alive 5 s) — and classes
a failed exchange the same way (``adapters.payer_http``): a timeout or connection fault is
transient. httpx stays where the gateway is not hot (reading a WSDL, the CLI, tests that inject
a client)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import aiohttp

from adapters.sdk import TransientError

# what httpx adds to every request unless told otherwise (httpx._client.Client headers)
HTTPX_DEFAULTS = {"Accept": "*/*", "Accept-Encoding": "gzip, deflate", "Connection": "keep-alive"}
KEEPALIVE_SECONDS = 5.0  # httpx's keepalive_expiry


@dataclass(frozen=True, slots=True)
class Answer:
    """A payer's HTTP answer, read whole."""

    status: int
    content: bytes
    content_type: str
    charset: str | None

    @property
    def text(self) -> str:
        return self.content.decode(self.charset or "utf-8", errors="replace")


class LeanClient:
    """One payer's connection pool. A session belongs to one event loop: a call from another loop
    (a second ``asyncio.run`` in a CLI or test) gets a session of its own."""

    def __init__(self, headers: Mapping[str, str], timeout_seconds: float, connect_seconds: float) -> None:
        self.headers = {**HTTPX_DEFAULTS, **headers}
        # httpx: read and pool timeouts are ``timeout``, connect is ``connect``; aiohttp's
        # ``connect`` is the wait for a pooled connection, ``sock_connect`` the connect itself
        self.timeout = aiohttp.ClientTimeout(
            total=None, connect=timeout_seconds, sock_connect=connect_seconds, sock_read=timeout_seconds
        )
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _current(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._loop is not loop or self._session.closed:
            if self._session is not None:
                self._session.detach()  # its loop has ended: nothing of it can be awaited
            connector = aiohttp.TCPConnector(limit=100, keepalive_timeout=KEEPALIVE_SECONDS)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self.timeout, trust_env=True, auto_decompress=True
            )
            self._loop = loop
        return self._session

    async def send(
        self, label: str, method: str, url: str, body: bytes | None, headers: Mapping[str, str]
    ) -> Answer:
        with lean_faults(label):
            async with self._current().request(
                method, url, data=body, headers={**self.headers, **headers}, allow_redirects=False
            ) as response:
                content = await response.read()
                return Answer(response.status, content, response.content_type, response.charset)

    async def aclose(self) -> None:
        if self._session is not None and self._loop is asyncio.get_running_loop():
            await self._session.close()
        elif self._session is not None:
            self._session.detach()  # opened on a loop that has ended
        self._session = None


@contextmanager
def lean_faults(label: str) -> Iterator[None]:
    """A timeout or a connection fault on the way to the payer is transient (as
    ``adapters.payer_http.connection_faults`` says of httpx's)."""
    try:
        yield
    except TimeoutError as error:  # aiohttp's timeouts are asyncio's (TimeoutError)
        raise TransientError(f"{label}: timed out ({type(error).__name__})") from None
    except aiohttp.ClientError as error:
        raise TransientError(f"{label}: {type(error).__name__} {error}") from None
