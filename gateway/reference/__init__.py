"""Reference data: the payers and their products (the registry) and the bureau's district routes.

The fan-out plans every claim from these, so they sit below it, beside storage: they read and
write their own tables and import nothing of the fan-out, the use cases or the API."""
