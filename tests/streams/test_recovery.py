"""Rebuilding in-memory state from a log, up to the group's committed offset (real broker)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from distillguard.streams.admin import ensure_topics
from distillguard.streams.recovery import committed_offset, replay_log

pytestmark = pytest.mark.integration


def test_replay_log_folds_exactly_the_committed_prefix(kafka_bootstrap: str) -> None:
    topic, group = f"links-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    tp = TopicPartition(topic, 0)

    async def scenario() -> tuple[int, int, list[bytes], int]:
        await ensure_topics(kafka_bootstrap, {topic: 1})
        before = await committed_offset(kafka_bootstrap, group, tp)
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            for i in range(10):
                await producer.send_and_wait(topic, f"link-{i}".encode())
        finally:
            await producer.stop()
        committer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group,
                                     enable_auto_commit=False)
        await committer.start()
        try:
            committer.assign([tp])
            await committer.commit({tp: OffsetAndMetadata(7, "")})
        finally:
            await committer.stop()
        until = await committed_offset(kafka_bootstrap, group, tp)
        folded: list[bytes] = []
        count = await replay_log(kafka_bootstrap, tp, until, folded.append)
        return before, until, folded, count

    before, until, folded, count = asyncio.run(scenario())
    assert before == 0 and until == 7
    assert folded == [f"link-{i}".encode() for i in range(7)] and count == 7
