"""What every benchmark shares: a fresh PostgreSQL schema, medians, and the result table."""

from __future__ import annotations

import contextlib
import os
import platform
import secrets
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gateway.storage.database import make_engine, normalise_url
from gateway.storage.migrate import upgrade_engine

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass
class Row:
    benchmark: str
    figure: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    target: str = ""
    met: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> str:
        return f"{self.figure / self.baseline:.0%}" if self.baseline else ""


def median(runs: int, measure: Callable[[], float]) -> float:
    return statistics.median(measure() for _ in range(runs))


def database_url() -> str:
    return os.environ.get("LTC_BENCH_DATABASE_URL", DEFAULT_URL)


@contextlib.contextmanager
def fresh_schema(prefix: str = "bench", base_url: str | None = None, keep: bool = False) -> Iterator[str]:
    """A migrated schema of its own on the benchmark database (or on ``base_url``), as a URL
    that works in it; dropped afterwards (unless ``keep``: its name is printed)."""
    base = normalise_url(base_url or database_url())
    schema = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = (
        make_url(base)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    engine = make_engine(url)
    try:
        upgrade_engine(engine)
        engine.dispose()
        yield url
    finally:
        if keep:
            print(f"schema kept: {schema}", file=sys.stderr, flush=True)
        else:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def machine() -> str:
    def first(path: str, prefix: str) -> str:
        with contextlib.suppress(OSError), open(path, encoding="utf-8") as lines:
            for line in lines:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
        return ""

    cpu = first("/proc/cpuinfo", "model name") or "unknown CPU"
    kib = first("/proc/meminfo", "MemTotal").split()
    memory = f"{int(kib[0]) // 1024 // 1024} GiB" if kib else "?"
    postgres = ""
    with contextlib.suppress(Exception):
        postgres = subprocess.run(
            ["psql", "--version"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
    return f"{os.cpu_count()} cores ({cpu}), {memory} RAM, Python {platform.python_version()}, {postgres}"


def table(rows: list[Row]) -> str:
    header = ["benchmark", "figure", "baseline", "ratio", "target", "met", "note"]
    body = [
        [
            r.benchmark,
            f"{r.figure:,.1f} {r.unit}",
            f"{r.baseline:,.1f} ({r.baseline_name})" if r.baseline else "",
            r.ratio,
            r.target,
            "" if r.met is None else ("yes" if r.met else "NO"),
            r.note,
        ]
        for r in rows
    ]
    widths = [max(len(str(x)) for x in column) for column in zip(header, *body, strict=True)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    lines += [
        "| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in body
    ]
    return "\n".join(lines)
