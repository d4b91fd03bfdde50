"""``ltc_gateway.asgi:app`` for ASGI servers (``ltc-gateway serve`` uses it for several processes)."""

import gc

from gateway.bootstrap import bootstrap
from gateway.observability.logging import configure
from ltc_gateway.app import create_app

gateway = bootstrap()
configure(gateway.settings.log_level)
app = create_app(gateway)

# What a server process holds for its whole life (modules, mappings, schemas, the app) is out of the
# cyclic collector's reach from here on: a full collection walked all of it again and again, and
# the collector took about a sixth of a process's CPU on the accept path (python -m bench --only
# accept). Cycles among objects made later are collected as before.
gc.collect()
gc.freeze()
gc.set_threshold(10_000, 10, 10)  # young collections a tenth as often: a batch makes many short-lived objects
