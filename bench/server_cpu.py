"""The CPU a run's own PostgreSQL backends spend, beside the client's: the replay reads its facts
from the server on the same 2 cores, so the server's share counts against the year's 90 s.

The run names its connections (``application_name``); a thread polls ``pg_stat_activity`` for
them and reads each backend's CPU from ``/proc`` (the server is local), keeping the last figure
seen: a backend that ends between two polls loses at most one poll's worth. Other engineers'
backends are not counted. ``None`` when the server's processes cannot be read (not local)."""

from __future__ import annotations

import os
import threading
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

_TICK = os.sysconf("SC_CLK_TCK")


def named(url: str, name: str) -> str:
    """``url`` with its connections named ``name``."""
    return make_url(url).update_query_dict({"application_name": name}).render_as_string(hide_password=False)


def _cpu(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime


class ServerCpu:
    """``with ServerCpu(url, name) as server: …``, then ``server.seconds``."""

    def __init__(self, url: str, name: str, every: float = 0.2) -> None:
        self.engine = create_engine(make_url(url).set(query={}))
        self.name, self.every = name, every
        self.seen: dict[int, float] = {}
        self.readable = True
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _sample(self, connection: Any) -> None:
        pids = connection.execute(
            text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"), {"name": self.name}
        ).scalars()
        for pid in pids:
            cpu = _cpu(pid)
            if cpu is None:
                self.readable = False
            else:
                self.seen[pid] = max(cpu, self.seen.get(pid, 0.0))

    def _poll(self) -> None:
        with self.engine.connect() as connection:
            while not self._stop.is_set():
                self._sample(connection)
                connection.rollback()
                self._stop.wait(self.every)
            self._sample(connection)

    def __enter__(self) -> ServerCpu:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.engine.dispose()

    @property
    def seconds(self) -> float | None:
        return sum(self.seen.values()) if self.readable and self.seen else None
