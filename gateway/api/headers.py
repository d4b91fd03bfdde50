"""Security headers on every response: pages are ours only (no inline script or style, no
framing by other sites, no content-type sniffing), and the staff pages are not kept in caches."""

from __future__ import annotations

from starlette.types import Message, Receive, Scope, Send

from gateway.asgi_middleware import HttpMiddleware

# No inline script or style anywhere: the UI's and /docs' styles are static files (/docs alone
# allows one more stylesheet, by its hash: below).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# /docs (Swagger UI) alone also allows one stylesheet by its hash: the <style> inside Swagger UI's
# logo (an inline SVG), ".logo_small_svg__cls-2{fill:#fff}...". Nothing else inline runs there.
DOCS_LOGO_STYLE = "'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='"
DOCS_CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY.replace(
    "style-src 'self';", f"style-src 'self' {DOCS_LOGO_STYLE};"
)
HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


class SecurityHeadersMiddleware(HttpMiddleware):
    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        # a signed-in reconciler's (or provider's, /portal) pages and exports hold claims and amounts:
        # no shared caches
        private = path.startswith(("/ui", "/portal")) and not path.startswith(
            ("/ui/static/", "/portal/static/")
        )
        policy = (
            [(b"content-security-policy", DOCS_CONTENT_SECURITY_POLICY.encode())] if path == "/docs" else []
        )

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in policy + HEADERS:  # the first policy for a name wins
                    if name not in present:
                        headers.append((name, value))
                        present.add(name)
                if private and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
