"""Rebuilding the campaign graph after a restart or a rebalance.

The campaign graph is a pure fold over the links topic (one partition, in
order), so it needs no table of its own: when this worker is assigned that
partition, it reads the topic from the beginning up to the group's committed
offset and folds every link again, with alerts suppressed (they were sent
before). The stream then resumes at the committed offset, so every link is
folded exactly once, and severities already alerted are not sent again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from distillguard.streams.security import KafkaSecurity

logger = logging.getLogger(__name__)


async def committed_offsets(bootstrap_servers: str, group_id: str,
                            tps: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
    """The group's committed offset on each of `tps` (one request), 0 where it never committed."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers,
                                **KafkaSecurity.from_env().aiokafka_kwargs())
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group_id, partitions=list(tps))
    finally:
        await admin.close()
    return {tp: max(0, offsets[tp].offset) if tp in offsets else 0 for tp in tps}


async def committed_offset(bootstrap_servers: str, group_id: str, tp: TopicPartition) -> int:
    """The group's committed offset on `tp`, 0 if it never committed."""
    return (await committed_offsets(bootstrap_servers, group_id, [tp]))[tp]


async def replay_log(bootstrap_servers: str, tp: TopicPartition, until: int,
                     fold: Callable[[bytes], Any]) -> int:
    """Call `fold` on every record of `tp` before offset `until`; returns how many."""
    if until <= 0:
        return 0
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False,
                                **KafkaSecurity.from_env().aiokafka_kwargs())
    await consumer.start()
    done = 0
    try:
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        while True:
            batch = await consumer.getmany(tp, timeout_ms=1000)
            records = batch.get(tp, [])
            if not records and await consumer.position(tp) >= until:
                return done
            for record in records:
                if record.offset >= until:
                    return done
                fold(record.value)
                done += 1
    finally:
        await consumer.stop()
