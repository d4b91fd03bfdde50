"""The HTTP edge: Starlette app, v1 endpoints, problem+json errors, bearer keys."""
