"""The simulation benchmark's arithmetic and its city copies (no durations asserted)."""

from __future__ import annotations

import os
import uuid
from collections import defaultdict

from bench.city_copies import _copied
from bench.simulation import CLAIMS_A_MEMBER, Span, _history, _replay_timed, _summary


def test_parallel_figures_run_from_the_first_start_to_the_last_finish_and_add_up_cpu() -> None:
    spans = [Span(10.0, 12.0, 100_000, 1.5, 80.0), Span(10.5, 14.0, 100_000, 2.5, 90.0)]
    per_second, cpu_per_million, per_cpu_second, rss = _summary(spans)
    assert per_second == 200_000 / 4.0
    assert cpu_per_million == 4.0 / 200_000 * 1e6
    assert per_cpu_second == 200_000 / 4.0
    assert rss == 90.0


def test_a_replay_is_timed_over_every_line_of_its_members() -> None:
    span = _replay_timed([_history(m) for m in range(2)])
    assert span.lines == 2 * CLAIMS_A_MEMBER * 10
    assert span.ended >= span.began and span.cpu >= 0 and span.rss_mb > 0


def test_a_copy_gets_fresh_ids_kept_consistent_across_tables_and_unique_keys_of_its_own() -> None:
    member, claim = uuid.uuid4(), uuid.uuid4()
    fresh: defaultdict[object, uuid.UUID] = defaultdict(uuid.uuid4)
    row = {"claim_id": claim, "member_id": member, "claim_number": "C-1"}
    claim_row = _copied("claims", row, "s/1", fresh)
    step = _copied(
        "payer_steps",
        {"step_id": 7, "claim_id": claim, "idempotency_key": "k", "request": {}, "rerun_of": None},
        "s/1",
        fresh,
    )
    assert claim_row["member_id"] == fresh[member] != member
    assert step["claim_id"] == claim_row["claim_id"] == fresh[claim] != claim
    assert "step_id" not in step and "request" not in step  # a new serial id; documents not read
    assert claim_row["claim_number"] != "C-1"
    again = _copied("claims", row, "s/2", fresh)
    assert again["claim_number"] != claim_row["claim_number"]


def test_a_runs_connections_are_named_and_a_process_cpu_is_read_from_proc() -> None:
    from bench.server_cpu import _cpu, named

    url = named("postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3Dx", "ltc_bench_sim_1_2")
    assert "application_name=ltc_bench_sim_1_2" in url and "options=" in url
    spent = _cpu(os.getpid())
    assert spent is not None and spent > 0
    assert _cpu(2**22 + 1) is None  # beyond pid_max: no such process


def test_the_phase_timer_counts_a_phase_and_puts_every_function_back() -> None:
    from bench import simulation_phases
    from gateway.simulation import history, shard_rows

    before = (shard_rows.read, history._history)
    spent: defaultdict[str, float] = defaultdict(float)
    originals = simulation_phases._patched(spent)
    try:
        assert shard_rows.read is not before[0] and history._history is not before[1]
        busy = simulation_phases._timed(spent, "facts", lambda n: sum(i * i for i in range(n)))
        assert busy(200_000) > 0 and spent["facts"] > 0 and spent["read"] == 0
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)
    assert (shard_rows.read, history._history) == before
