"""Staff accounts for the tests: a named person with roles and a known password."""

from __future__ import annotations

from gateway.bootstrap import Gateway
from gateway.services.staff import add_account

PASSWORD = "correct horse battery"


def person(gateway: Gateway, username: str, *roles: str) -> tuple[str, str]:
    """A new staff account; (username, password) to sign in with."""
    with gateway.sessions.begin() as session:
        add_account(session, username, f"{username.title()} 测试", roles or ("reconciler",), PASSWORD, "test")
    return username, PASSWORD
