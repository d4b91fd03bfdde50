"""No test asserts a wall-clock duration: on a loaded machine any bound fails (77 s against a
60 s bound failed the README's test command). Tests count work instead (``tests/work.py``) and
timings live in ``bench/``. A deadline that bounds a wait (``time.monotonic() + 30``, then
``assert time.monotonic() < deadline``) is fine: it fails only when the awaited thing never comes.

What is flagged: an ``assert`` over a difference of clock readings (``time.perf_counter() -
started``), directly or through a name assigned from one."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
CLOCKS = {"monotonic", "perf_counter", "time", "process_time", "monotonic_ns", "perf_counter_ns", "time_ns"}


def _is_clock_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    function = node.func
    if isinstance(function, ast.Attribute):
        return (
            function.attr in CLOCKS and isinstance(function.value, ast.Name) and function.value.id == "time"
        )
    return isinstance(function, ast.Name) and function.id in CLOCKS - {"time"}


def wall_clock_assertions(source: str) -> list[int]:
    """Line numbers of the asserts in ``source`` that bound a measured duration."""
    tree = ast.parse(source)
    readings: set[str] = set()  # names holding a clock reading
    durations: set[str] = set()  # names holding a difference of readings

    def reads_clock(node: ast.AST) -> bool:
        return _is_clock_call(node) or (isinstance(node, ast.Name) and node.id in readings)

    def measures(node: ast.AST) -> bool:
        for inner in ast.walk(node):
            subtraction = isinstance(inner, ast.BinOp) and isinstance(inner.op, ast.Sub)
            if subtraction and (reads_clock(inner.left) or reads_clock(inner.right)):
                return True
            if isinstance(inner, ast.Name) and inner.id in durations:
                return True
        return False

    # two passes: names are assigned before the asserts that use them, in any function
    for _ in range(2):
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = {t.id for t in targets if isinstance(t, ast.Name)}
                names |= {t.attr for t in targets if isinstance(t, ast.Attribute)}
                if _is_clock_call(node.value):
                    readings |= names
                elif measures(node.value):
                    durations |= names
    return sorted(
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Assert) and isinstance(node.test, ast.Compare) and measures(node.test)
    )


def test_no_test_asserts_a_wall_clock_duration() -> None:
    found = {
        f"{path.relative_to(TESTS)}:{line}"
        for path in TESTS.rglob("*.py")
        for line in wall_clock_assertions(path.read_text(encoding="utf-8"))
    }
    assert not found, f"wall-clock bounds in tests (count work instead: tests/work.py): {sorted(found)}"


def test_the_check_flags_a_measured_duration_and_not_a_deadline() -> None:
    measured = """
import time
def test_fast():
    started = time.perf_counter()
    work()
    elapsed = time.perf_counter() - started
    assert elapsed < 60, f"took {elapsed:.1f} s"
    assert time.monotonic() - started <= 5
"""
    waiting = """
import time
def test_waits():
    deadline = time.monotonic() + 30
    while not done():
        assert time.monotonic() < deadline, "it never came"
        time.sleep(0.1)
"""
    assert wall_clock_assertions(measured) == [7, 8]
    assert wall_clock_assertions(waiting) == []
