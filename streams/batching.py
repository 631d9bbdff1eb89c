"""Whole fetched batches for the hot topics, around Faust's per-event machinery.

Why: Faust hands every record to an agent one at a time (a flow-control
acquire, a deserialised `Event`, a queue put and get, two asyncio tasks in
`wait_first`, an ack), which costs more than distillguard's own work on a
record (benchmarks/results/throughput.md measures both).

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
changelogs and its alerts and forwards are queued to the producer, which
`distillguard.streams.producer` flushes before any commit. A crash
re-delivers what was not committed; the handlers drop what they had applied
already (see `distillguard.models.account_state.seen_before` and
`distillguard.models.fingerprints.applied`). A handler that raises stops the
worker without acking the batch: nothing is committed past it.

Tests: tests/streams/test_batching.py (the guarantee, against a real broker)
and tests/streams/test_reliability.py (SIGKILL crashes, exact counts).
"""

from __future__ import annotations

import functools
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import CorruptRecordException, IllegalStateError, UnsupportedCodecError
from faust.events import Event
from faust.streams import _current_event
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer
from faust.types import TP, AppT, Message

from distillguard.streams import metrics
from distillguard.streams.producer import SequencedProducer, ebb
from distillguard.streams.sources import forbid_auto_create

logger = logging.getLogger(__name__)

#: a topic's batch handler: the partition's fetched records, in offset order
BatchHandler = Callable[[Sequence[Message]], Awaitable[None]]


class BatchConsumer(Consumer):
    """Faust's aiokafka consumer, delivering the batch topics' records a batch at a time."""

    #: topic name -> handler; set by `install`
    batch_handlers: dict[str, BatchHandler]
    #: milliseconds the broker may hold a fetch that finds no records; set by `install`
    fetch_max_wait_ms: int
    #: partitions stopped at a batch that cannot be decoded -> its offset (see `stall`)
    stalled: dict[TP, int]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stalled = {}

    def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
        return ShortFetchThread(self, loop=self.loop, beacon=self.beacon)

    def partition_count(self, topic: str) -> int | None:
        """How many partitions `topic` has, from the Kafka client's cluster metadata.

        Why not Faust's `topic_partitions`: it reads aiokafka's group coordinator
        snapshot, which only the group leader fills. On every other member it is
        empty, so each worker but one took the input as not co-partitioned and
        sent every event through the events topic back to itself: a second trip
        through Kafka for every event of every follower (tests/streams/test_scale_out.py).
        None until the client has the topic's metadata (or has no client yet).
        """
        client = self._thread._consumer  # aiokafka's consumer, once the thread started it
        partitions = client.partitions_for_topic(topic) if client is not None else None
        return len(partitions) if partitions else None

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Message]]:
        """Faust's `getmany`, with the batch topics' records handled here and not yielded.

        Fetched records it does not deliver (a rebalance began, the partition is paused)
        are fetched again: Faust seeks back to the committed offsets, `refetch` where
        there are none.
        """
        try:
            records, active = await self._wait_next_records(timeout)
        except (CorruptRecordException, UnsupportedCodecError) as exc:
            await self.stall(exc)
            return
        generation = self.app.consumer_generation_id
        if records is None or self.should_stop:
            return
        # partition -> offset of its first record fetched and not yet delivered
        undelivered = {tp: batch[0].offset for tp, batch in records.items() if batch}
        if not self.flow_active:  # as Faust: a rebalance began; go back to committed offsets
            await self.perform_seek()
            await self.refetch(undelivered)
            return
        rest: dict[TP, list[Any]] = {}
        for tp, batch in records.items():
            if active is not None and tp not in active and tp not in self._buffered_partitions:
                continue  # paused (e.g. in recovery): fetched again later
            handler = self.batch_handlers.get(tp.topic)
            if handler is None:
                rest[tp] = batch
                continue
            if not await self.deliver(tp, batch, handler, generation):
                await self.refetch(undelivered)  # a rebalance began
                return
            undelivered.pop(tp, None)
        last = {tp: batch[-1].offset for tp, batch in rest.items() if batch}
        for tp, record in self.scheduler.iterate(rest):
            if not self.flow_active or self.app.consumer_generation_id != generation:
                break
            self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
            yield tp, self._to_message(tp, record)
            if record.offset == last[tp]:
                undelivered.pop(tp, None)
            else:
                undelivered[tp] = record.offset + 1
        await self.refetch(undelivered)

    async def perform_seek(self) -> None:
        """Faust's seek to the committed offsets, tolerating a rebalance under way.

        Why: aiokafka looks each partition's committed offset up over the network and
        then seeks it; a rebalance that revokes the partition in between made the seek
        raise and crashed the worker (tests/streams/test_scale_out.py on Apache Kafka).
        The new assignment is seeked again by Faust's recovery, so nothing is skipped.
        """
        try:
            await super().perform_seek()
        except IllegalStateError as exc:
            logger.info("seek to committed offsets cut short by a rebalance: %s", exc)

    async def refetch(self, undelivered: dict[TP, int]) -> None:
        """Seek partitions with no committed offset back to their first undelivered record.

        Why: Faust drops fetched records it cannot deliver yet and counts on seeking back
        to the committed offsets later, but aiokafka's `seek_to_committed` seeks only to
        offsets above 0 and leaves every other partition where it is, past the dropped
        records. So on a partition nothing was committed for yet (all of a topic created
        while the worker runs: a rebalance assigns it while the last fetch is under way,
        and its first records arrive while Faust recovers) those records were never read,
        and once later ones were committed, lost (tests/streams/test_late_topic.py).
        Partitions with a committed offset are left to Faust's seek.
        """
        positions = {tp: offset for tp, offset in undelivered.items()
                     if not self._committed_offset.get(tp)}
        client = self._thread._consumer
        if not positions or client is None:
            return

        async def seek() -> None:  # on the consumer thread, which owns the client
            assigned = client.assignment()
            for tp, offset in positions.items():
                if tp in assigned:  # else revoked: its next owner starts from the group's
                    logger.debug("fetching %s partition %d again from offset %d", tp.topic,
                                 tp.partition, offset)
                    client.seek(tp, offset)

        await self._thread.call_thread(seek)

    async def stall(self, error: Exception) -> None:
        """Stop reading the partitions whose fetched batch cannot be decoded; keep the rest.

        Why: the client raises such an error on every fetch of the batch, so without
        this the fetcher crashes, and a restarted worker crashes again on the same
        batch. A batch cannot be skipped either: its extent is only known once it is
        decoded, and skipping would lose its records. So the partition is paused at the
        offset of the batch (nothing is committed past it), named in the log, in
        `distillguard_stalled_partitions` and on /readyz (503), and the other
        partitions go on. Records already fetched alongside are read again from the
        committed offsets (the handlers drop what they had applied). A restart, once
        the cause is fixed (a codec library, a broker's corrupt segment), resumes at
        the stalled offset.
        """
        client = self._thread._consumer
        failed = broken_fetches(client) if client is not None else []
        metrics.UNDECODABLE_BATCHES.inc()
        if client is None or not failed:
            logger.critical("a fetched batch could not be decoded (%s: %s) and its partition "
                            "is unknown; stopping the worker", type(error).__name__, error)
            raise error
        for tp, offset in failed:
            logger.critical("cannot decode the batch at topic %s partition %d offset %d "
                            "(%s: %s); that partition is stalled there until a restart, the "
                            "others go on", tp.topic, tp.partition, offset,
                            type(error).__name__, error)
            self.stalled[tp] = offset
            client._fetcher._records.pop(tp, None)
            client.pause(tp)
        self.pause_partitions([tp for tp, _ in failed])
        metrics.STALLED_PARTITIONS.set(len(self.stalled))
        await self.perform_seek()

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


def broken_fetches(client: AIOKafkaConsumer) -> list[tuple[TP, int]]:
    """The partitions whose fetched records failed to decode, with the failing offset.

    aiokafka decodes a partition's records lazily, in a generator, while handing
    them out; the one that raised is finished (no frame) but still held, at the
    offset of its first undecoded record. Reads aiokafka's private fetcher state:
    the client offers no other way to tell which partition failed.
    """
    failed = []
    for tp, result in client._fetcher._records.items():
        records = getattr(result, "_partition_records", None)
        iterator = getattr(records, "_records_iterator", None)
        if records is not None and iterator is not None and iterator.gi_frame is None:
            failed.append((tp, records.next_fetch_offset))
    return failed


class ShortFetchThread(AIOKafkaConsumerThread):
    """Faust's consumer thread, with our fetch wait instead of Faust's fixed 1.5 s.

    Why: aiokafka keeps one fetch in flight per broker, naming the partitions that
    have no fetched records waiting. A fetch sent while the input's records were
    still being handled names only the quiet internal partitions (ticks, links);
    when nothing arrives there the broker holds it for the whole wait, and the
    input waits behind it, which delayed alerts by up to the whole wait (the
    alert latency figures are in benchmarks/results/throughput.md). An idle
    worker sends one empty fetch per wait.

    Its client also never asks the broker to create a topic: the input and feedback
    topics belong to whoever produces them (`distillguard.streams.sources`).
    """

    consumer: BatchConsumer

    def _create_worker_consumer(self, transport: Any) -> AIOKafkaConsumer:
        client = super()._create_worker_consumer(transport)
        client._fetch_max_wait_ms = self.consumer.fetch_max_wait_ms  # read by its start()
        forbid_auto_create(client)
        return client


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
