"""The scale-out benchmark's arithmetic: members split into shards, and the two bounds."""

from __future__ import annotations

from bench.scale_out import applying, cpu_bound, little_bound, span, split


def test_members_are_split_into_contiguous_shards_that_cover_them_once() -> None:
    assert split(200, 2) == [(0, 100), (100, 100)]
    assert split(7, 3) == [(0, 3), (3, 2), (5, 2)]
    assert split(5, 1) == [(0, 5)]
    members = [m for first, length in split(101, 4) for m in range(first, first + length)]
    assert members == list(range(101))


def test_littles_law_bound_is_processes_times_in_flight_over_the_steps_waited() -> None:
    # 4 processes x 4 in flight, each claim waiting 4 steps of 200 ms: 16 / 0.8 s = 20 claims/s
    assert little_bound(4, 4, 200) == 20.0
    assert little_bound(1, 16, 200, steps=4) == 20.0
    assert little_bound(2, 16, 100, steps=2) == 160.0


def test_cpu_bound_is_the_cores_over_the_cpu_a_claim() -> None:
    assert cpu_bound(2, 0.08) == 25.0
    assert cpu_bound(2, 0.0) == 0.0  # nothing measured: no bound to state


def test_the_lower_bound_applies() -> None:
    assert applying(little=20.0, cpu=25.0) == "Little's law"
    assert applying(little=80.0, cpu=25.0) == "CPU"
    assert applying(little=20.0, cpu=0.0) == "Little's law"  # no CPU measured


def test_the_steady_span_is_found_where_the_end_to_end_benchmark_takes_it() -> None:
    progress = [
        (0.0, 0, 0.0, 0.0),
        (2.0, 5, 1.0, 0.1),
        (3.0, 10, 2.0, 0.2),
        (9.0, 90, 8.0, 0.9),
        (10.0, 100, 9.0, 1.0),
    ]
    assert span(progress, 100) == (2, 3)
