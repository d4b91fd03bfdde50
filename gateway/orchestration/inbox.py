"""What a worker's transactions queued, handed to its pipeline when they commit."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from gateway.orchestration.outbox import Message


@dataclass
class Inbox:
    """What this worker's transactions queued, handed to its pipeline when they commit."""

    loop: asyncio.AbstractEventLoop
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    messages: list[Message] = field(default_factory=list)  # queued leased to this worker: send them
    others: bool = False  # queued for any worker: lease now rather than at the next poll

    def hand(self, mine: list[Message], others: bool) -> None:
        """From a move's thread."""
        self.loop.call_soon_threadsafe(self._arrive, mine, others)

    def _arrive(self, mine: list[Message], others: bool) -> None:
        self.messages.extend(mine)
        self.others = self.others or others
        self.arrived.set()

    def take(self) -> list[Message]:
        self.arrived.clear()
        mine, self.messages = self.messages, []
        return mine
