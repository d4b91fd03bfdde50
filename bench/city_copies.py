"""A generated city made larger by copying its members: what the simulation reads, copied under
fresh ids. A city goes through the production path (tens of claims a second); copying its rows
gives the read + replay benchmark a city of thousands of members in seconds, with the same mix of
claims, revisions and limits carried across claims in every copy."""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import Engine, select

from gateway.storage.tables import Base

# In the order their foreign keys need; only what ``simulation.history`` reads.
TABLES = (
    "members",
    "member_versions",
    "assessments",
    "claims",
    "claim_lines",
    "payer_steps",
    "line_payments",
    "fixed_benefits",
)
_IDS = ("member_id", "claim_id", "assessment_id")
_UNIQUE = {"members": "id_hash", "claims": "claim_number", "payer_steps": "idempotency_key"}
# new serial ids; the step a rerun repeats and the documents sent and received are not read
_LEFT_OUT = {
    "payer_steps": ("step_id", "rerun_of", "request", "response"),
    "line_payments": ("id",),
    "fixed_benefits": ("id",),
}
_BATCH = 5000


def multiply(engine: Engine, copies: int) -> None:
    """``copies`` − 1 more of every member, each with its own claims, steps and payments."""
    tables = Base.metadata.tables
    with engine.connect() as connection:
        original = {
            name: [dict(row._mapping) for row in connection.execute(select(tables[name]))] for name in TABLES
        }
    salt = uuid.uuid4().hex  # a second call copies the copies: their keys must differ too
    for copy in range(1, copies):
        fresh: defaultdict[Any, uuid.UUID] = defaultdict(uuid.uuid4)  # an old id → its copy's
        with engine.begin() as connection:
            for name in TABLES:
                rows = [_copied(name, row, f"{salt}/{copy}", fresh) for row in original[name]]
                for i in range(0, len(rows), _BATCH):
                    connection.execute(tables[name].insert(), rows[i : i + _BATCH])


def _copied(table: str, row: dict[str, Any], copy: str, fresh: defaultdict[Any, uuid.UUID]) -> dict[str, Any]:
    out = {key: value for key, value in row.items() if key not in _LEFT_OUT.get(table, ())}
    for key in _IDS:
        if out.get(key) is not None:
            out[key] = fresh[out[key]]
    unique = _UNIQUE.get(table)
    if unique is not None:
        digest = hashlib.sha256(f"{out[unique]}/{copy}".encode()).hexdigest()
        out[unique] = digest[:32] if table != "members" else digest
    return out


def multiply_in_sql(engine: Engine, copies: int) -> None:
    """The same as ``multiply`` on PostgreSQL, in the server: each table copied ``copies`` − 1
    times in one ``INSERT … SELECT`` over ``generate_series``, a copy's ids derived from the old
    id and the copy's number (md5), serial ids new in the old order within each copy (a
    revision's first payment still follows the claims paid before it). Tens of thousands of
    members a minute, where ``multiply`` makes a few thousand."""
    tables = Base.metadata.tables
    salt = uuid.uuid4().hex
    with engine.begin() as connection:
        # the copies' keys follow from rows that are consistent already: no foreign-key triggers
        connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
        for name in TABLES:
            table = tables[name]
            left_out = _LEFT_OUT.get(name, ())
            columns, values = [], []
            for column in table.columns:
                if column.name in left_out:
                    continue
                columns.append(f'"{column.name}"')
                if column.name in _IDS:
                    values.append(f"md5(t.\"{column.name}\"::text || '/{salt}/' || k)::uuid")
                elif column.name == _UNIQUE.get(name):
                    values.append(f"left(md5(t.\"{column.name}\" || '/{salt}/' || k), 32)")
                else:
                    values.append(f't."{column.name}"')
            order = "k, t.id" if "id" in table.columns and "id" in left_out else "k"
            order = "k, t.step_id" if name == "payer_steps" else order
            connection.exec_driver_sql(
                f'INSERT INTO "{name}" ({", ".join(columns)}) SELECT {", ".join(values)} '
                f"FROM {name} t CROSS JOIN generate_series(1, {copies - 1}) k ORDER BY {order}"
            )
        for name in TABLES:
            connection.exec_driver_sql(f'ANALYZE "{name}"')
