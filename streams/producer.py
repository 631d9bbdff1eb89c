"""The sequenced producer: commits never run ahead of the effects they cover.

Faust flushes the producer before it commits offsets
(`Consumer._commit_offsets`), so a committed offset lies behind effects that
reached Kafka only if the flush really waits for them. Faust's own buffer
flush returns as soon as no message went out for 0.1 s, and a send waits a
broker round-trip whenever its partition's batch is full, so on a busy
machine offsets were committed with changelog records still unsent (seen on
Apache Kafka: committed records missing from the table after a crash).
`SequencedBuffer` and `SequencedProducer` close that gap; `ebb` keeps the
buffer bounded. Tests: tests/streams/test_producer_buffer.py and
tests/streams/test_reliability.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import Counter
from typing import Any, cast

from faust.exceptions import ProducerSendError
from faust.transport.drivers.aiokafka import Producer
from faust.transport.producer import ProducerBuffer
from faust.types.tuples import FutureMessage

#: pending producer messages (changelog records, forwards) a new batch may start on top of
PRODUCER_BACKLOG = 2000


async def ebb(buffer: Any, limit: int = PRODUCER_BACKLOG) -> None:
    """Wait until the producer's buffer of pending messages is back under `limit`.

    Table writes queue their changelog records there (a dict assignment cannot
    await), and Faust's `wait_until_ebb` sends at most 100 of them and returns:
    a worker whose batches write faster than the producer sends then grows the
    buffer without bound. Waiting for the backlog makes the producer's pace the
    worker's.
    """
    while buffer.size > limit:
        await buffer.flush_atmost(buffer.size - limit)


class SequencedBuffer(ProducerBuffer):
    """Faust's producer buffer, with a flush that returns only once every message put
    before the flush began has been handed to the Kafka client.

    Why: the commit flushes the producer and then commits. Faust's buffer flush
    stops waiting when no message went out for 0.1 s, and does not see the message
    its sender is in the middle of sending. The sender sends one message at a time
    and waits whenever the partition's batch is full, so either case lets a commit
    run ahead of table writes still in the buffer. The buffer is a FIFO with one
    sender, so "every message put before" is a count: sent >= put at the start.
    Messages put after the flush began do not hold it up, so a commit cannot starve
    under steady load.
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        self.put_count = 0
        self.sent_count = 0

    def put(self, fut: FutureMessage) -> None:
        """Queue a message as Faust does, counted so that `flush` knows what to wait for."""
        self.put_count += 1
        super().put(fut)

    async def _send_pending(self, fut: FutureMessage) -> None:
        await super()._send_pending(fut)
        self.sent_count += 1

    async def flush(self) -> None:
        """Wait until every message put so far is in the client (which then flushes)."""
        target = self.put_count
        while self.sent_count < target:
            if self.state != "running":  # the sender is gone; committing now would lose them
                raise RuntimeError(f"producer buffer stopped with "
                                   f"{target - self.sent_count} messages unsent")
            self.message_sent.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.message_sent.wait(), timeout=1.0)


class SequencedProducer(Producer):
    """Faust's aiokafka producer with a `SequencedBuffer`, and a flush that fails when
    Kafka finally refused a message.

    Why the check: the commit flushes the producer, then commits. aiokafka's flush
    returns once every batch is done, delivered or failed after its retries, and a
    failure reaches only the message's future, which nobody awaits for a table
    write or an alert: the commit would pass effects that are not in Kafka. The
    flush raises instead, so the commit does not happen and the worker stops; it
    restarts from the last committed offset. Topics in `self_checked` are left out:
    their senders await every delivery and handle a refusal themselves (the DLQ).
    """

    #: topics whose senders await each delivery themselves; set by `install`
    self_checked: frozenset[str] = frozenset()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.app.conf.producer_threaded:
            raise ValueError("distillguard does not support Faust's producer_threaded")
        self.buffer = SequencedBuffer(loop=self.loop, beacon=self.beacon)
        self.buffer.app = self.app
        self.refused: Counter[str] = Counter()
        self.last_refusal: BaseException | None = None

    async def send(self, topic: str, key: bytes | None, value: bytes | None,
                   partition: int | None, timestamp: float | None, headers: Any, *,
                   transactional_id: str | None = None) -> Any:
        """Faust's send; a refused delivery is noted for `flush` unless the topic is
        self-checked."""
        delivery = await super().send(topic, key, value, partition, timestamp, headers,
                                      transactional_id=transactional_id)
        if topic not in self.self_checked:
            note = functools.partial(self._note_delivery, topic)
            cast(asyncio.Future, delivery).add_done_callback(note)
        return delivery

    def _note_delivery(self, topic: str, delivery: asyncio.Future[Any]) -> None:
        error = None if delivery.cancelled() else delivery.exception()
        if error is not None:
            self.refused[topic] += 1
            self.last_refusal = error

    async def flush(self) -> None:
        """Faust's flush, then refuse to return if any message was finally refused."""
        await super().flush()
        if self.refused:
            raise ProducerSendError(
                f"Kafka refused {sum(self.refused.values())} messages {dict(self.refused)} "
                f"(last: {self.last_refusal!r}); not committing offsets past them")
