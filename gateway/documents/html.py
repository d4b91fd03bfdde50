"""The statement as one self-contained, printable HTML page (its style inlined, nothing fetched).
The provider portal includes ``settlement_statement_body.html`` in its own pages instead."""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from importlib import resources

from jinja2 import Environment, PackageLoader, select_autoescape

from gateway.documents.settlement_statement import Statement
from gateway.documents.translations import Translator

templates = Environment(
    loader=PackageLoader("gateway.documents", "templates"), autoescape=select_autoescape(["html"])
)


@cache
def statement_css() -> str:
    return (
        resources.files("gateway.documents").joinpath("templates/statement.css").read_text(encoding="utf-8")
    )


def render_body(statement: Statement) -> str:
    """The statement without a page around it, for a page of one's own (the portal)."""
    return templates.get_template("settlement_statement_body.html").render(
        s=statement, t=Translator(statement.lang)
    )


def render_page(statement: Statement) -> str:
    base = f"/v1/claims/{statement.claim_id}"
    return templates.get_template("settlement_statement.html").render(
        s=statement, t=Translator(statement.lang), css=statement_css(), base=base
    )


def content_security_policy() -> str:
    """The site's policy allows no inline style; this page's one style element is let through by
    its hash, and nothing else inline is."""
    digest = base64.b64encode(hashlib.sha256(statement_css().encode()).digest()).decode()
    return (
        f"default-src 'none'; style-src 'sha256-{digest}'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
