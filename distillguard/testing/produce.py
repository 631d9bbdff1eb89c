"""Producing simulated or logged events to a topic, keyed by account as a gateway would."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from distillguard.streams.security import KafkaSecurity


async def produce_events(
    bootstrap_servers: str,
    topic: str,
    events: Iterable[dict[str, Any]],
    progress: Callable[[int], None] | None = None,
    keyed: bool = True,
) -> int:
    """Send every event as JSON, keyed by its `account_id` (if it has a string one and `keyed`).

    Returns the number sent.
    """
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, linger_ms=20,
                                max_batch_size=256 * 1024, acks=1,
                                **KafkaSecurity.from_env().aiokafka_kwargs())
    await producer.start()
    n = 0
    try:
        for event in events:
            account = event.get("account_id")
            key = account.encode() if keyed and isinstance(account, str) else None
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
