"""Staff accounts for the tests: a named person with roles and a known password, and keys of a
person's own (what four-eyes steps over the API and the command line take)."""

from __future__ import annotations

from gateway.bootstrap import Gateway
from gateway.services.keys import Role
from gateway.services.staff import add_account, issue_key
from gateway.storage.tables import StaffAccountRow

PASSWORD = "correct horse battery"


def person(gateway: Gateway, username: str, *roles: str) -> tuple[str, str]:
    """A new staff account; (username, password) to sign in with."""
    with gateway.sessions.begin() as session:
        add_account(session, username, f"{username.title()} 测试", roles or ("reconciler",), PASSWORD, "test")
    return username, PASSWORD


def own_key(gateway: Gateway, username: str, *roles: str, role: Role = Role.RECONCILER) -> str:
    """A new key of ``username``'s own (the account made first if there is none, a reconciler
    and approver unless ``roles`` says): it acts as that person."""
    with gateway.sessions.begin() as session:
        if session.get(StaffAccountRow, username) is None:
            add_account(
                session, username, username.title(), roles or ("reconciler", "approver"), PASSWORD, "test"
            )
        return issue_key(session, username, role, "test")[1]
