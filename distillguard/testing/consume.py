"""Reading a topic back: every partition, group-less, from its start (or tail) to its end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition


async def assigned_consumer(bootstrap_servers: str, topic: str, timeout: float = 0.0,
                            **kwargs: Any) -> AIOKafkaConsumer:
    """A started, group-less consumer assigned every partition of `topic`, from the earliest.

    A brand-new topic may be missing from the client's metadata: it is refreshed until the
    topic shows or `timeout` s pass (at least once); then the consumer has no assignment.
    `kwargs` go to `AIOKafkaConsumer` (e.g. `fetch_max_wait_ms`).
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False,
                                auto_offset_reset="earliest", **kwargs)
    await consumer.start()
    deadline = time.monotonic() + timeout
    parts = consumer.partitions_for_topic(topic)
    while not parts:
        await consumer._client.force_metadata_update()
        parts = consumer.partitions_for_topic(topic)
        if parts or time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.5)
    if parts:
        consumer.assign([TopicPartition(topic, p) for p in sorted(parts)])
    return consumer


async def batches_to_end(consumer: AIOKafkaConsumer,
                         tail: int | None = None) -> AsyncIterator[list[ConsumerRecord]]:
    """Batches of the consumer's assigned partitions until each is read to its end offset.

    The end is the one when the call begins; with `tail`, only the last `tail` records of
    each partition are read.
    """
    tps = list(consumer.assignment())
    if not tps:
        return
    end = await consumer.end_offsets(tps)
    begin = await consumer.beginning_offsets(tps)
    for tp in tps:
        consumer.seek(tp, begin[tp] if tail is None else max(begin[tp], end[tp] - tail))
    pending = {tp for tp in tps if end[tp] > begin[tp]}
    while pending:
        batch = await consumer.getmany(*pending, timeout_ms=1000)
        for tp, records in batch.items():
            yield records
            if records and records[-1].offset + 1 >= end[tp]:
                pending.discard(tp)


async def read_all(bootstrap_servers: str, topic: str) -> list[ConsumerRecord]:
    """Every record now in `topic`, all partitions (none if the topic does not exist)."""
    consumer = await assigned_consumer(bootstrap_servers, topic)
    try:
        return [record async for records in batches_to_end(consumer) for record in records]
    finally:
        await consumer.stop()


def read_topic(bootstrap_servers: str, topic: str) -> list[ConsumerRecord]:
    """`read_all` from synchronous code."""
    return asyncio.run(read_all(bootstrap_servers, topic))
