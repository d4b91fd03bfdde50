"""Example data shipped with the gateway: the sample products and the worked example of the
domain brief (used by ``ltc-gateway demo`` and the tests)."""
