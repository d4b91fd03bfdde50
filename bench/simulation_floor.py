"""The floor under the simulation's CPU on PostgreSQL: what any design that streams a period's
history from the database and replays it with the project's coordination must spend at least.

Two parts, measured beside the simulation in the same run:

* **the read**: the simulation's own queries (``shard_rows``: claims, lines, decided steps,
  payments and fixed benefits, a shard of ``history.SHARD`` members at a time, by the same index
  probes and plan settings), fetched as the driver's tuples and nothing built from them: the
  client's CPU and its PostgreSQL backend's;
* **the core**: the same city's members replayed (``replay.replay``, products unchanged) from
  histories built beforehand and held in memory: nothing read, no facts built, nothing tallied.

Their sum leaves out building a member's facts and adding the outcome to the report, which the
simulation cannot skip, so it is a floor, not a design: a target below it cannot be met by making
the simulation's own code leaner, only by reading less from the server or replaying in less CPU.
"""

from __future__ import annotations

import os
import time
from typing import Any

from bench import server_cpu
from bench.common import Row
from gateway.bootstrap import bootstrap
from gateway.config import Settings
from gateway.simulation import history, shard_rows
from gateway.simulation.history import Period
from gateway.simulation.replay import replay

PERIOD = Period("2000-01", "2099-12")


def read_floor(url: str) -> tuple[int, float, float | None]:
    """Lines read, the client's CPU-seconds and its backend's (None if unreadable)."""
    name = f"ltc_bench_floor_{os.getpid()}"
    gateway = bootstrap(Settings(database_url=server_cpu.named(url, name)))
    try:
        with gateway.sessions() as session:
            everyone = history.members(session, PERIOD)
            with server_cpu.ServerCpu(server_cpu.named(url, name), name) as server:
                began = time.process_time()
                lines = _fetch_all(session.connection().connection.dbapi_connection, everyone)
                used = time.process_time() - began
            session.rollback()
    finally:
        gateway.close()
    return lines, used, server.seconds if server.readable else None


def _fetch_all(driver: Any, everyone: list[Any]) -> int:
    cursor = driver.cursor()
    for setting in shard_rows._PLAN:
        cursor.execute(setting)
    lines = 0

    def fetched(sql: str, params: dict[str, Any]) -> list[Any]:
        cursor.execute(shard_rows._PYFORMAT.sub(r"%(\1)s", sql), params)
        return cursor.fetchall()

    for i in range(0, len(everyone), history.SHARD):
        part = everyone[i : i + history.SHARD]
        params: dict[str, Any] = {"lo": part[0], "hi": part[-1], "start": PERIOD.start, "end": PERIOD.end}
        claims = fetched(shard_rows.CLAIMS_SQL, params)
        params["ids"] = "{" + ",".join(claim[1] for claim in claims) + "}"
        lines += len(fetched(shard_rows.LINES_BY_IDS, params))
        for sql in (shard_rows.STEPS_BY_IDS, shard_rows.PAYMENTS_BY_IDS, shard_rows.FIXED_SQL):
            fetched(sql, params)
    cursor.close()
    return lines


def core_floor(url: str) -> tuple[int, float]:
    """Lines replayed and the CPU-seconds of replaying them, the histories built first (untimed)."""
    gateway = bootstrap(Settings(database_url=url))
    try:
        with gateway.sessions() as session:
            members = list(history.histories(session, PERIOD))
            session.rollback()
    finally:
        gateway.close()
    began = time.process_time()
    lines = sum(len(outcome.claim.case.lines) for member in members for outcome in replay(member, {}))
    return lines, time.process_time() - began


def floor_row(url: str, simulation_per_m: float, processes: int = 2) -> Row:
    """The floor as a row: the read's client and server CPU a million lines plus the core's, beside
    the simulation's (client and server) measured on the same city in the same run."""
    load = os.getloadavg()[0]
    lines, client, server = read_floor(url)
    replayed, replaying = core_floor(url)
    core_per_m = replaying / replayed * 1e6
    per_m = 1e6 / lines
    read_per_m = client * per_m + (server or 0.0) * per_m
    floor = read_per_m + core_per_m
    return Row(
        "simulation floor: its queries fetched, nothing built, + replay of histories in memory",
        floor,
        "CPU-s a million lines",
        simulation_per_m,
        "the simulation, same run",
        note=f"{lines:,} lines; read {client * per_m:,.1f} in the client"
        + (f" + {server * per_m:,.1f} in PostgreSQL" if server is not None else " (server unreadable)")
        + f"; replay of histories in memory {core_per_m:,.1f}; at most {processes * 1e6 / floor:,.0f} lines/s"
        f" on {processes} cores shared with the server, before facts and the report (PostgreSQL); load"
        f" average {load:.1f} at the start",
    )
