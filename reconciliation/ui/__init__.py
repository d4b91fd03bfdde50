"""The reconciliation staff UI: server-rendered pages (Jinja2), Chinese first, English available."""
