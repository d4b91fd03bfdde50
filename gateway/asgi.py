"""``gateway.asgi:app`` for ASGI servers (``ltc-gateway serve`` uses it for several processes)."""

from gateway.api.app import create_app
from gateway.bootstrap import bootstrap
from gateway.observability.logging import configure

gateway = bootstrap()
configure(gateway.settings.log_level)
app = create_app(gateway)
