"""What a command checks before it works, and the faults a user can fix said in one line each:
the database answers and its schema is the one this version needs (else ``run `ltc-gateway db
upgrade```), instead of a traceback from the first query."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from gateway.storage.migrate import MIGRATIONS, current_revision, head_revision


class UserError(Exception):
    """A fault the user can fix: the CLI prints ``error: <it>`` and exits 2, no traceback."""


def shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def unreachable(url: str, error: sa_exc.DBAPIError) -> UserError:
    reason = str(error.orig).strip().splitlines()[0] if str(error.orig).strip() else type(error.orig).__name__
    return UserError(f"cannot reach the database {shown(url)}: {reason}")


def require_schema(engine: Engine) -> None:
    """Raise a ``UserError`` unless the database answers and is at this version's revision. A
    SQLite file that does not exist is not created (a misspelt path stays visible)."""
    url = engine.url.render_as_string(hide_password=False)
    upgrade = "run `ltc-gateway db upgrade`"
    database = engine.url.database
    if (
        engine.dialect.name == "sqlite"
        and database
        and database != ":memory:"
        and not Path(database).exists()
    ):
        raise UserError(f"no database at {database}: {upgrade} to create it (or set LTC_DATABASE_URL)")
    try:
        current = current_revision(engine)
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as error:
        raise unreachable(url, error) from None
    head = head_revision()
    if current == head:
        return
    if current is None:
        raise UserError(f"the database {shown(url)} has no schema: {upgrade}")
    known = {script.revision for script in ScriptDirectory(str(MIGRATIONS)).walk_revisions()}
    if current not in known:
        raise UserError(
            f"the database {shown(url)} is at revision {current}, which this ltc-gateway (head {head}) "
            "does not know: run a newer ltc-gateway"
        )
    raise UserError(
        f"the database {shown(url)} is at revision {current}, this version needs {head}: {upgrade}"
    )
