"""Operating the dead letters: list, show, replay, purge (capabilities §6.4).

Replay publishes the original bytes again to the original topic with the original key.
Every consumer group of the topic receives it; those that handled it before find its id in
their inbox and skip it, so a replay reaches exactly the consumers that still need it.
"""

from __future__ import annotations

from typing import Protocol

from bazaar.kernel.clock import Clock
from bazaar.kernel.messaging.errors import MessagingError
from bazaar.kernel.messaging.ports import Broker, Record
from bazaar.kernel.messaging.sqlalchemy import DeadLetter

__all__ = ["DeadLetterNotFoundError", "DeadLetterStore", "DeadLetters"]


class DeadLetterNotFoundError(MessagingError):
    def __init__(self, letter_id: int) -> None:
        super().__init__(f"no dead letter {letter_id}")
        self.letter_id = letter_id


class DeadLetterStore(Protocol):
    async def add(self, letter: DeadLetter) -> None: ...

    async def list(
        self,
        *,
        consumer: str | None = None,
        limit: int = 50,
        before_id: int | None = None,
        include_replayed: bool = True,
    ) -> list[DeadLetter]: ...

    async def get(self, letter_id: int) -> DeadLetter | None: ...

    async def mark_replayed(self, letter_id: int, at: float) -> None: ...

    async def purge(
        self,
        *,
        letter_id: int | None = None,
        consumer: str | None = None,
        before: float | None = None,
    ) -> int: ...

    async def counts_by_topic(self) -> dict[str, int]: ...


class DeadLetters:
    """The operator's view of the dead letters, over the store and the broker."""

    def __init__(self, store: DeadLetterStore, broker: Broker, clock: Clock) -> None:
        self.store = store
        self.broker = broker
        self.clock = clock

    async def list(
        self,
        *,
        consumer: str | None = None,
        limit: int = 50,
        before_id: int | None = None,
        include_replayed: bool = True,
    ) -> list[DeadLetter]:
        return await self.store.list(
            consumer=consumer, limit=limit, before_id=before_id, include_replayed=include_replayed
        )

    async def get(self, letter_id: int) -> DeadLetter:
        """Raises: DeadLetterNotFoundError."""
        letter = await self.store.get(letter_id)
        if letter is None:
            raise DeadLetterNotFoundError(letter_id)
        return letter

    async def replay(self, letter_id: int) -> DeadLetter:
        """Publish the letter again and mark it replayed; returns it as it is now.

        Raises:
            DeadLetterNotFoundError: no such letter.
            BrokerError: the broker refused; the letter is left as it was.
        """
        letter = await self.get(letter_id)
        await self.broker.publish(letter.topic, [Record(letter.key, letter.data)])
        await self.store.mark_replayed(letter_id, self.clock.now())
        return await self.get(letter_id)

    async def purge(
        self,
        *,
        letter_id: int | None = None,
        consumer: str | None = None,
        before: float | None = None,
    ) -> int:
        return await self.store.purge(letter_id=letter_id, consumer=consumer, before=before)

    async def counts_by_topic(self) -> dict[str, int]:
        return await self.store.counts_by_topic()
