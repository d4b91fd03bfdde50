"""``ltc_gateway.asgi:app`` for ASGI servers (``ltc-gateway serve`` uses it for several processes)."""

from gateway.bootstrap import bootstrap
from gateway.observability.logging import configure
from ltc_gateway.app import create_app

gateway = bootstrap()
configure(gateway.settings.log_level)
app = create_app(gateway)
