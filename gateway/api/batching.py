"""Group commit for the busiest endpoint: requests that arrive while earlier ones are being
written are run together, as one batch in one transaction, instead of one transaction each.

No timer and no waiting for a batch to fill: a request is run at once when a lane is free, and
whatever arrives while the lanes are busy forms the next batch. So an idle gateway answers a lone
request as fast as before, and a busy one spends its database round trips per batch, not per
request. Each request gets its own outcome (a result or an error) back.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from starlette.concurrency import run_in_threadpool

T = TypeVar("T")


@dataclass
class _Queue(Generic[T]):
    waiting: list[tuple[T, asyncio.Future[Any]]] = field(default_factory=list)
    lanes_busy: int = 0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class Batcher(Generic[T]):
    """``run`` takes a batch of items and returns one outcome per item, in order: a result, or an
    exception to raise to that item's caller. It runs in a worker thread."""

    def __init__(self, run: Callable[[list[T]], list[Any]], max_batch: int = 100, lanes: int = 2) -> None:
        self.run, self.max_batch, self.lanes = run, max_batch, lanes
        self.sizes: list[int] = []  # of the last batches run, for tests and metrics
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue[T]] = (
            weakref.WeakKeyDictionary()
        )

    async def submit(self, item: T) -> Any:
        loop = asyncio.get_running_loop()
        queue = self._queues.setdefault(loop, _Queue())
        outcome: asyncio.Future[Any] = loop.create_future()
        queue.waiting.append((item, outcome))
        if queue.lanes_busy < self.lanes:
            queue.lanes_busy += 1
            task = loop.create_task(self._drain(queue))
            queue.tasks.add(task)
            task.add_done_callback(queue.tasks.discard)
        return await outcome

    async def _drain(self, queue: _Queue[T]) -> None:
        try:
            while queue.waiting:
                batch = queue.waiting[: self.max_batch]
                del queue.waiting[: self.max_batch]
                self.sizes = [*self.sizes[-99:], len(batch)]
                try:
                    outcomes = await run_in_threadpool(self.run, [item for item, _ in batch])
                except Exception as error:  # run failed as a whole: every caller hears of it
                    outcomes = [error] * len(batch)
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if future.done():  # the caller went away (its claim is stored all the same)
                        continue
                    if isinstance(outcome, BaseException):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
        finally:
            queue.lanes_busy -= 1
