"""Producing simulated or logged events to a topic, keyed by account as a gateway would."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer


async def produce_events(
    bootstrap_servers: str,
    topic: str,
    events: Iterable[dict[str, Any]],
    progress: Callable[[int], None] | None = None,
    keyed: bool = True,
) -> int:
    """Send every event (JSON, key `account_id` unless `keyed` is False); returns the count."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, linger_ms=20,
                                max_batch_size=256 * 1024, acks=1)
    await producer.start()
    n = 0
    try:
        for event in events:
            key = event["account_id"].encode() if keyed else None
            await producer.send(topic, orjson.dumps(event), key=key)
            n += 1
            if progress is not None and n % 1000 == 0:
                progress(n)
        await producer.flush()
    finally:
        await producer.stop()
    if progress is not None:
        progress(n)
    return n
