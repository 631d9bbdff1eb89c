"""distillguard.streams.producer: a producer flush covers every message put before it,
and fails if Kafka finally refused one.

Offsets are committed right after the producer's flush, so a flush that returns
with table writes still in the buffer lets a crash lose them (see the
distillguard.streams.producer docstring). Each send here takes 0.3 s, as a send does when its
partition's batch is full and waits for the broker. Faust's own ProducerBuffer
fails `test_flush_waits_for_every_message_put_before_it`: its flush returns
after 0.1 s with none of the four published.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from aiokafka.errors import KafkaTimeoutError
from faust.exceptions import ProducerSendError
from faust.types.tuples import FutureMessage, PendingMessage

from distillguard.streams.producer import SequencedBuffer, SequencedProducer
from distillguard.streams.settings import Settings
from distillguard.streams.topology import build_app

SEND_S = 0.3


class SlowChannel:
    """A channel whose publish takes SEND_S, recording what it published."""

    def __init__(self) -> None:
        self.published: list[bytes] = []

    async def publish_message(self, fut: FutureMessage, wait: bool = False) -> None:
        await asyncio.sleep(SEND_S)
        self.published.append(fut.message.value)


def message(channel: SlowChannel, value: bytes) -> FutureMessage:
    pending = PendingMessage(channel=channel, key=None, value=value,  # type: ignore[arg-type]
                             partition=None, timestamp=None, headers=None,
                             key_serializer=None, value_serializer=None, callback=None)
    return FutureMessage(pending)


async def started_buffer() -> SequencedBuffer:
    buffer = SequencedBuffer()
    buffer.app = SimpleNamespace(conf=SimpleNamespace(producer_threaded=False))  # type: ignore[assignment]
    await buffer.start()
    return buffer


async def test_flush_waits_for_every_message_put_before_it() -> None:
    buffer, channel = await started_buffer(), SlowChannel()
    try:
        for i in range(4):
            buffer.put(message(channel, b"%d" % i))
        await buffer.flush()
        assert channel.published == [b"0", b"1", b"2", b"3"]
        assert buffer.size == 0
    finally:
        await buffer.stop()


async def test_flush_is_not_held_up_by_messages_put_after_it_began() -> None:
    buffer, channel = await started_buffer(), SlowChannel()
    try:
        buffer.put(message(channel, b"before"))
        flush = asyncio.ensure_future(buffer.flush())
        await asyncio.sleep(0)
        for i in range(5):  # steady load after the flush began
            buffer.put(message(channel, b"after-%d" % i))
        await asyncio.wait_for(flush, timeout=SEND_S * 3)
        assert channel.published[0] == b"before"
        assert len(channel.published) < 6
        await buffer.flush()  # the rest, before the buffer stops
    finally:
        await buffer.stop()


async def test_flush_refuses_to_return_when_the_sender_has_stopped() -> None:
    buffer, channel = await started_buffer(), SlowChannel()
    await buffer.stop()
    buffer.put(message(channel, b"stranded"))
    with pytest.raises(RuntimeError, match="1 messages unsent"):
        await buffer.flush()


def test_the_worker_produces_through_a_sequenced_buffer() -> None:
    """The commit's flush is the app producer's: it must be the one fixed here."""
    svc = build_app(Settings(app_id="buffer-test", store="memory://", partitions=2))
    assert isinstance(svc.app.producer.buffer, SequencedBuffer)


class FakeClient:
    """Stands in for aiokafka's producer: each send returns a delivery future we settle."""

    def __init__(self) -> None:
        self.deliveries: list[asyncio.Future[object]] = []

    async def send(self, topic: str, value: bytes, **kwargs: object) -> asyncio.Future[object]:
        self.deliveries.append(asyncio.get_running_loop().create_future())
        return self.deliveries[-1]

    async def flush(self) -> None:
        return None


def producer_with_fake_client() -> tuple[SequencedProducer, FakeClient, str]:
    svc = build_app(Settings(app_id="refusal-test", store="memory://", partitions=2))
    producer = svc.app.producer
    assert isinstance(producer, SequencedProducer)
    client = FakeClient()
    producer._producer = client  # type: ignore[assignment]
    return producer, client, svc.dlq.get_topic_name()


async def test_flush_fails_when_kafka_finally_refused_a_message() -> None:
    """The commit flushes, then commits: a refused alert or table write must stop it."""
    producer, client, _ = producer_with_fake_client()
    await producer.send("alerts", b"k", b"v", None, None, None)
    await producer.send("alerts", b"k", b"w", None, None, None)
    client.deliveries[0].set_result(object())
    client.deliveries[1].set_exception(KafkaTimeoutError())
    await asyncio.sleep(0)  # delivery callbacks run
    with pytest.raises(ProducerSendError, match="refused 1 messages"):
        await producer.flush()


async def test_flush_passes_delivered_messages_and_refused_dead_letters() -> None:
    """`dead_letter` awaits each DLQ delivery and handles a refusal itself."""
    producer, client, dlq = producer_with_fake_client()
    await producer.send("alerts", b"k", b"v", None, None, None)
    await producer.send(dlq, b"k", b"big", None, None, None)
    client.deliveries[0].set_result(object())
    client.deliveries[1].set_exception(KafkaTimeoutError())
    await asyncio.sleep(0)
    await producer.flush()
