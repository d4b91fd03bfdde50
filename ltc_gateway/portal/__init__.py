"""The provider portal (``/portal/``): a provider's own claims, statements, batch uploads,
corrections and webhook settings in the browser, over the same use cases as the API."""
