"""Whole fetched batches for the hot topics, around Faust's per-event machinery.

Why: Faust hands every record to an agent one at a time (a flow-control
acquire, a deserialised `Event`, a queue put and get, two asyncio tasks in
`wait_first`, an ack), which caps a bare agent near 10,000 records/s on one
core before any work is done. distillguard's work is cheap per record, so that
machinery would dominate.

How: `BatchConsumer` is Faust's own aiokafka consumer with one change in
`getmany`: the records it fetched for a topic that has a batch handler go to
that handler as one list per partition, in offset order, instead of one by one
through the conductor to the agent's stream. Everything else stays Faust's:
the consumer group and its rebalances, the tables, their changelogs and
recovery, standby replicas, offset commits, and the agents of every other
topic.

At-least-once, the mechanism: a record's offset can be committed only after
it is acked (Faust commits the highest offset below which every record is
acked), and `deliver` acks a batch's records only after its handler has
returned, that is after the handler's table writes are queued to their
changelogs and its alerts and forwards are queued to the producer. Faust
flushes the producer before it commits offsets
(`Consumer._commit_offsets`), so a committed offset always lies behind
effects that reached Kafka. That flush needs `SequencedBuffer`: Faust's own
buffer flush returns as soon as no message went out for 0.1 s, and a send
waits a broker round-trip whenever its partition's batch is full, so on a
busy machine offsets were committed with up to 2,000 changelog records still
unsent (seen once on Apache Kafka: 14,941 committed records not in the table).
A crash re-delivers what was not committed; the handlers drop what they had
applied already (see `distillguard.models.account_state.seen_before` and
`distillguard.models.fingerprints.applied`). A handler that raises stops the worker without
acking the batch: nothing is committed past it.

Tests: tests/test_batching.py (the guarantee, against a real broker) and
tests/test_reliability.py (SIGKILL crashes, exact counts).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import weakref
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer
from faust.events import Event
from faust.exceptions import ProducerSendError
from faust.streams import _current_event
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer, Producer
from faust.transport.producer import ProducerBuffer
from faust.types import TP, AppT, Message
from faust.types.tuples import FutureMessage

#: pending producer messages (changelog records, forwards) a new batch may start on top of
PRODUCER_BACKLOG = 2000
#: a topic's batch handler: the partition's fetched records, in offset order
BatchHandler = Callable[[Sequence[Message]], Awaitable[None]]


class BatchConsumer(Consumer):
    """Faust's aiokafka consumer, delivering the batch topics' records a batch at a time."""

    #: topic name -> handler; set by `install`
    batch_handlers: dict[str, BatchHandler]
    #: milliseconds the broker may hold a fetch that finds no records; set by `install`
    fetch_max_wait_ms: int

    def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
        return ShortFetchThread(self, loop=self.loop, beacon=self.beacon)

    def partition_count(self, topic: str) -> int | None:
        """How many partitions `topic` has, from the Kafka client's cluster metadata.

        Why not Faust's `topic_partitions`: it reads aiokafka's group coordinator
        snapshot, which only the group leader fills. On every other member it is
        empty, so each worker but one took the input as not co-partitioned and
        sent every event through the events topic back to itself: a second trip
        through Kafka for every event of every follower (tests/test_scale_out.py).
        None until the client has the topic's metadata (or has no client yet).
        """
        client = self._thread._consumer  # aiokafka's consumer, once the thread started it
        partitions = client.partitions_for_topic(topic) if client is not None else None
        return len(partitions) if partitions else None

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Message]]:
        """Faust's `getmany`, with the batch topics' records handled here and not yielded."""
        records, active = await self._wait_next_records(timeout)
        generation = self.app.consumer_generation_id
        if records is None or self.should_stop:
            return
        if not self.flow_active:  # as Faust: a rebalance began; go back to committed offsets
            await self.perform_seek()
            return
        rest: dict[TP, list[Any]] = {}
        for tp, batch in records.items():
            if active is not None and tp not in active and tp not in self._buffered_partitions:
                continue  # paused (e.g. in recovery): Faust drops these and fetches them later
            handler = self.batch_handlers.get(tp.topic)
            if handler is None:
                rest[tp] = batch
                continue
            if not await self.deliver(tp, batch, handler, generation):
                return  # a rebalance began: these are fetched again from the committed offset
        for tp, record in self.scheduler.iterate(rest):
            if not self.flow_active or self.app.consumer_generation_id != generation:
                break
            self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
            yield tp, self._to_message(tp, record)

    async def deliver(self, tp: TP, records: list[Any], handler: BatchHandler,
                      generation: int) -> bool:
        """Track, handle, then ack one partition's batch (acks only after the handler).

        Flow control and producer back-pressure are awaited before any record is
        tracked: a rebalance waits for tracked records to be acked, so waiting
        while holding some would deadlock it. Returns False, handling nothing,
        when a rebalance has begun since the fetch.
        """
        await self.app.flow_control.acquire()
        await ebb(self.app.producer.buffer)
        if not self.flow_active or self.app.consumer_generation_id != generation:
            return False
        last = self._read_offset[tp]
        fresh = []
        # read-offset bookkeeping exactly as Faust's _drain_messages
        for message in map(functools.partial(self._to_message, tp), records):
            if last is not None and message.offset < last:
                continue  # fetched again around a seek
            if last and message.offset - last > 1:
                await self._add_gap(tp, last + 1, message.offset)  # compaction, transactions
            self.track_message(message)
            fresh.append(message)
            last = message.offset
        if not fresh:
            return True
        with as_current(self.app, fresh[-1]):
            await handler(fresh)
        self._read_offset[tp] = last
        for message in fresh:
            self.ack(message)
        return True


class ShortFetchThread(AIOKafkaConsumerThread):
    """Faust's consumer thread, with our fetch wait instead of Faust's fixed 1.5 s.

    Why: aiokafka keeps one fetch in flight per broker, naming the partitions that
    have no fetched records waiting. A fetch sent while the input's records were
    still being handled names only the quiet internal partitions (ticks, links);
    when nothing arrives there the broker holds it for the whole wait, and the
    input waits behind it. At half load on Apache Kafka that stalled the worker
    for up to 1.5 s at a time: alerts p50 1.4 s, p99 up to 3.9 s after their
    event. With 100 ms: p50 0.11-0.13 s, p99 0.25-0.33 s (0.33-0.36 s on the
    embedded broker). An idle worker sends ten empty fetches a second.
    """

    consumer: BatchConsumer

    def _create_worker_consumer(self, transport: Any) -> AIOKafkaConsumer:
        client = super()._create_worker_consumer(transport)
        client._fetch_max_wait_ms = self.consumer.fetch_max_wait_ms  # read by its start()
        return client


async def ebb(buffer: Any, limit: int = PRODUCER_BACKLOG) -> None:
    """Wait until the producer's buffer of pending messages is back under `limit`.

    Table writes queue their changelog records there (a dict assignment cannot
    await), and Faust's `wait_until_ebb` sends at most 100 of them and returns:
    a worker whose batches write faster than the producer sends then grows the
    buffer without bound (47,000 pending and 13 GB of RSS at 1M accounts were
    measured). Waiting for the backlog makes the producer's pace the worker's.
    """
    while buffer.size > limit:
        await buffer.flush_atmost(buffer.size - limit)


class as_current:  # noqa: N801 (a context manager, named for how it reads)
    """Make `message` Faust's current event, as a stream does while an agent runs.

    Table writes find the changelog partition through the current event
    (`Table.partition_for_key`); a batch's records all share one partition.
    """

    def __init__(self, app: AppT, message: Message) -> None:
        self.event = Event(app, message.key, message.value, message.headers, message)

    def __enter__(self) -> None:
        self.token = _current_event.set(weakref.ref(self.event))

    def __exit__(self, *exc: object) -> None:
        _current_event.reset(self.token)


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
        delivery = await super().send(topic, key, value, partition, timestamp, headers,
                                      transactional_id=transactional_id)
        if topic not in self.self_checked:
            delivery.add_done_callback(functools.partial(self._note_delivery, topic))
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


def install(app: AppT, handlers: dict[str, BatchHandler], fetch_max_wait: float,
            self_checked: frozenset[str] = frozenset()) -> None:
    """Route the named topics' records to `handlers` in batches (call before the worker starts).

    `fetch_max_wait`: seconds the broker may hold a fetch that finds nothing
    (see `ShortFetchThread`); `self_checked`: topics whose senders await each
    delivery (see `SequencedProducer`).

    The topics' agents stay declared: they subscribe the topics, and under
    Faust's test context (no consumer) they still deliver record by record.
    The producer gets a `SequencedBuffer`, so that commits follow the effects, and
    checks deliveries before a commit (`SequencedProducer`).
    """
    consumer = type("BoundBatchConsumer", (BatchConsumer,), {
        "batch_handlers": dict(handlers), "fetch_max_wait_ms": round(fetch_max_wait * 1000)})
    app.transport.Consumer = consumer  # type: ignore[misc]
    app.transport.Producer = type(  # type: ignore[misc]
        "BoundSequencedProducer", (SequencedProducer,), {"self_checked": frozenset(self_checked)})
