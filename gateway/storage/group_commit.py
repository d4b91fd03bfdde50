"""Group commit: work that arrives while earlier work is being written is run together, as one
batch in one transaction, instead of one transaction each. The busiest endpoint's requests
(``gateway.api.endpoint.batched``) and a worker's moves (``gateway.orchestration.move_groups``)
are written this way.

No timer and no waiting for a batch to fill: an item is run at once when a lane is free, and
whatever arrives while the lanes are busy forms the next batch. So an idle gateway answers a lone
request as fast as before, and a busy one spends its database round trips per batch, not per
item. Each item gets its own outcome (a result or an error) back.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass
class _Queue(Generic[T]):
    waiting: list[tuple[T, asyncio.Future[Any]]] = field(default_factory=list)
    lanes_busy: int = 0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class Batcher(Generic[T]):
    """``run`` takes a batch of items and returns one outcome per item, in order: a result, or an
    exception to raise to that item's caller. It runs in a thread, through ``in_thread`` (the
    API passes Starlette's thread pool)."""

    def __init__(
        self,
        run: Callable[[list[T]], list[Any]],
        max_batch: int = 100,
        lanes: int = 2,
        in_thread: Callable[..., Awaitable[Any]] = asyncio.to_thread,
    ) -> None:
        self.run, self.max_batch, self.lanes, self.in_thread = run, max_batch, lanes, in_thread
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
                    outcomes = await self.in_thread(self.run, [item for item, _ in batch])
                except Exception as error:  # run failed as a whole: every caller hears of it
                    outcomes = [error] * len(batch)
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if future.done():  # the caller went away (its work is written all the same)
                        continue
                    if isinstance(outcome, BaseException):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
        finally:
            queue.lanes_busy -= 1
