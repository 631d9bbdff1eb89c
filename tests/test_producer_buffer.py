"""streams.batching.SequencedBuffer: a flush covers every message put before it.

Offsets are committed right after the producer's flush, so a flush that returns
with table writes still in the buffer lets a crash lose them (see the
streams.batching docstring). Each send here takes 0.3 s, as a send does when its
partition's batch is full and waits for the broker. Faust's own ProducerBuffer
fails `test_flush_waits_for_every_message_put_before_it`: its flush returns
after 0.1 s with none of the four published.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from faust.types.tuples import FutureMessage, PendingMessage

from streams.app import build_app
from streams.batching import SequencedBuffer
from streams.settings import Settings

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
