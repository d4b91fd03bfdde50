"""Group commit: what arrives while the lanes are busy runs as the next batch, each item with its
own outcome."""

from __future__ import annotations

import asyncio
import threading

import pytest

from gateway.storage.group_commit import Batcher


class Refused(Exception):
    pass


def test_items_that_wait_run_together_each_with_its_own_outcome() -> None:
    release = threading.Event()
    batches: list[list[int]] = []

    def run(items: list[int]) -> list[object]:
        release.wait(timeout=10)  # the first batch holds its lane until everyone has arrived
        batches.append(items)
        return [Refused(n) if n % 5 == 0 else n * 10 for n in items]

    async def main() -> list[object]:
        batcher = Batcher(run, max_batch=4, lanes=1)
        calls = [asyncio.ensure_future(batcher.submit(1))]
        await asyncio.sleep(0.05)  # the first is running, alone
        calls += [asyncio.ensure_future(batcher.submit(n)) for n in range(2, 11)]
        await asyncio.sleep(0.05)
        release.set()
        return await asyncio.gather(*calls, return_exceptions=True)

    outcomes = asyncio.run(main())
    assert batches == [[1], [2, 3, 4, 5], [6, 7, 8, 9], [10]]  # one lane; at most max_batch at once
    for n, outcome in zip(range(1, 11), outcomes, strict=True):
        if n % 5 == 0:
            assert isinstance(outcome, Refused) and outcome.args == (n,)
        else:
            assert outcome == n * 10


def test_a_lone_item_runs_at_once() -> None:
    async def main() -> int:
        batcher = Batcher(lambda items: [sum(items)], lanes=2)
        result: int = await asyncio.wait_for(batcher.submit(7), timeout=5)
        assert batcher.sizes == [1]
        return result

    assert asyncio.run(main()) == 7


def test_a_batch_that_fails_as_a_whole_fails_each_caller() -> None:
    def run(items: list[int]) -> list[object]:
        raise RuntimeError("the database went away")

    async def main() -> None:
        batcher = Batcher(run, lanes=1)
        calls = [batcher.submit(n) for n in range(3)]
        for outcome in await asyncio.gather(*calls, return_exceptions=True):
            assert isinstance(outcome, RuntimeError)

    asyncio.run(main())


def test_lanes_are_freed_after_a_failure() -> None:
    failing = [True]

    def run(items: list[int]) -> list[object]:
        if failing[0]:
            failing[0] = False
            raise RuntimeError("once")
        return list(items)

    async def main() -> None:
        batcher = Batcher(run, lanes=1)
        with pytest.raises(RuntimeError):
            await batcher.submit(1)
        assert await asyncio.wait_for(batcher.submit(2), timeout=5) == 2

    asyncio.run(main())
