"""``gateway.asgi:app`` for ASGI servers (``ltc-gateway serve`` uses it for several processes)."""

from gateway.api.app import create_app
from gateway.bootstrap import bootstrap

app = create_app(bootstrap())
