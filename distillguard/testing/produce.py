"""Producing to a topic: raw (key, value) records, or events keyed by account as a gateway would."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from distillguard.streams.security import KafkaSecurity

#: a record as a producer sends it: (key, value), either may be None
Record = tuple[bytes | None, bytes | None]


def make_producer(bootstrap_servers: str, *, acks: int | str = 1, linger_ms: int = 20,
                  max_batch_size: int = 256 << 10, max_request_size: int = 1 << 20,
                  security: KafkaSecurity | None = None) -> AIOKafkaProducer:
    """An aiokafka producer (not started) batching as a busy gateway would."""
    return AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks=acks, linger_ms=linger_ms,
                            max_batch_size=max_batch_size, max_request_size=max_request_size,
                            **(security.aiokafka_kwargs() if security is not None else {}))


async def send_all(producer: AIOKafkaProducer, topic: str, records: Iterable[Record], *,
                   window: int = 5000, progress: Callable[[int], None] | None = None,
                   every: int = 1000) -> int:
    """Send `records` in order and wait until each is acknowledged; the number sent.

    At most `window` sends are unconfirmed at a time (the oldest is awaited first, so the
    pipeline never stalls) and a refused record raises here. `progress(n)` is called every
    `every` records.
    """
    pending: deque[asyncio.Future[Any]] = deque()
    n = 0
    for key, value in records:
        pending.append(await producer.send(topic, value, key=key))
        if len(pending) > window:
            await pending.popleft()
        n += 1
        if progress is not None and n % every == 0:
            progress(n)
    await asyncio.gather(*pending)
    return n


async def produce(bootstrap_servers: str, topic: str, records: Iterable[Record], *,
                  acks: int | str = "all", max_batch_size: int = 512 << 10,
                  max_request_size: int = 16 << 20,
                  progress: Callable[[int], None] | None = None, every: int = 1000) -> int:
    """Send `records` (key, value) in order with a fresh producer (see `send_all`); the count.

    By default acks=all and records up to 16 MiB pass (tests send some over the worker's
    1 MiB contract limit on purpose).
    """
    producer = make_producer(bootstrap_servers, acks=acks, max_batch_size=max_batch_size,
                             max_request_size=max_request_size)
    await producer.start()
    try:
        return await send_all(producer, topic, records, progress=progress, every=every)
    finally:
        await producer.stop()


def keyed_by_account(events: Iterable[dict[str, Any]], keyed: bool = True) -> Iterable[Record]:
    """Events as JSON records keyed by their `account_id` (if a string and `keyed`)."""
    for event in events:
        account = event.get("account_id")
        key = account.encode() if keyed and isinstance(account, str) else None
        yield key, orjson.dumps(event)


async def produce_events(
    bootstrap_servers: str,
    topic: str,
    events: Iterable[dict[str, Any]],
    progress: Callable[[int], None] | None = None,
    keyed: bool = True,
) -> int:
    """Send every event as JSON, keyed by its `account_id` (if it has a string one and `keyed`).

    Acks=1 and the Kafka security of the environment (`KAFKA_SECURITY_PROTOCOL`, ...), as
    `distillguard produce` and the demo need. Returns the number sent.
    """
    producer = make_producer(bootstrap_servers, acks=1, security=KafkaSecurity.from_env())
    await producer.start()
    try:
        n = await send_all(producer, topic, keyed_by_account(events, keyed), progress=progress)
    finally:
        await producer.stop()
    if progress is not None:
        progress(n)
    return n
