"""The batch path's at-least-once guarantee, checked at the moment of a crash.

streams.batching acks a fetched batch only after its handler ran, so Faust
commits an offset only once the effects of every record before it are in
Kafka. The test SIGKILLs a busy worker (no clean shutdown, nothing flushed on
the way out) several times and, after each kill, reads what the group has
committed and what the topics hold:

- input: every record below the committed input offset was forwarded, i.e.
  its input position (`src`) is in the events topic;
- events: every event in a packed message below the committed events offset
  is in its account's table record (the record's highest applied offset for
  the event's input partition is at or past the event's offset).

Committing before the effects (acking on fetch, say) breaks the second check
whenever a kill lands between a commit and the changelog writes.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition

from streams.recovery import committed_offset
from streams.settings import Settings
from tests.kafka_helpers import (
    WorkerProcess,
    create_topics,
    latest_records,
    metric_values,
    read_topic,
    unique_settings,
    wait_until,
)

pytestmark = pytest.mark.integration

ACCOUNTS = 60
EVENTS = 40_000
KILLS = 3


def records(n: int) -> list[tuple[bytes, bytes]]:
    rng = random.Random(5)
    out = []
    for i in range(n):
        account = f"acct-{rng.randrange(ACCOUNTS)}"
        doc = {"event_id": f"e{i}", "ts": 1_767_225_600.0 + i, "account_id": account,
               "model": "m", "input_tokens": 10, "output_tokens": 200,
               "prompt": f"Write a function number {i} in python. Think step by step."}
        out.append((account.encode(), orjson.dumps(doc)))
    return out


async def produce(bootstrap: str, topic: str, batch: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=10)
    await producer.start()
    try:
        for key, value in batch:
            await producer.send(topic, value=value, key=key)
        await producer.flush()
    finally:
        await producer.stop()


def counted(settings: Settings) -> float:
    return sum(metric_values(settings, "distillguard_events_processed_total"))


def committed(settings: Settings, topic: str, partition: int) -> int:
    return asyncio.run(committed_offset(settings.bootstrap_servers, settings.app_id,
                                        TopicPartition(topic, partition)))


def check_commits_cover_effects(settings: Settings) -> dict[str, int]:
    """The two checks of the module docstring, on what Kafka holds now."""
    events_topic, bootstrap = settings.events_topic, settings.bootstrap_servers
    committed_input = committed(settings, settings.input_topic, 0)
    committed_events = {p: committed(settings, events_topic, p)
                        for p in range(settings.partitions)}
    table = latest_records(settings)
    forwarded: set[int] = set()
    covered = missing = 0
    for rec in read_topic(bootstrap, events_topic):
        if not rec.value.startswith(b"["):
            continue
        for ev in orjson.loads(rec.value):
            forwarded.add(ev["src"][1])
            if rec.offset >= committed_events[rec.partition]:
                continue  # not committed: may legitimately be unapplied
            covered += 1
            applied = table.get(ev["account_id"], {}).get("offs", {}).get(str(ev["src"][0]), -1)
            if applied < ev["src"][1]:
                missing += 1
    lost_forwards = [o for o in range(committed_input) if o not in forwarded]
    assert not lost_forwards, (f"input offsets below the commit ({committed_input}) never "
                               f"forwarded: {lost_forwards[:10]}")
    assert missing == 0, (f"{missing} of {covered} events below the committed events offsets "
                          f"are not in their account's table record")
    return {"committed_input": committed_input, "covered": covered}


def test_commits_never_run_ahead_of_effects(kafka_bootstrap: str, tmp_path: Path) -> None:
    settings = unique_settings(kafka_bootstrap, tmp_path / "data", partitions=2, warmup=10**9)
    create_topics(settings)
    rng = random.Random(11)
    stream = records(EVENTS * KILLS)
    checked = []
    for kill in range(KILLS):  # a fresh wave of input each time, so the kill lands mid-work
        asyncio.run(produce(kafka_bootstrap, settings.input_topic,
                            stream[kill * EVENTS:(kill + 1) * EVENTS]))
        worker = WorkerProcess(settings, tmp_path / f"worker-{kill}.log").start()
        try:
            wait_until(lambda: counted(settings) > 0, 120, "the worker to count events", worker)
            time.sleep(rng.uniform(0.5, 2.5))
            assert worker.proc is not None
            os.killpg(worker.proc.pid, signal.SIGKILL)
            worker.proc.wait(10)
        finally:
            worker.stop()
        checked.append(check_commits_cover_effects(settings))
    assert checked[-1]["committed_input"] > 0 and checked[-1]["covered"] > 0, checked
    assert checked[-1]["committed_input"] < EVENTS * KILLS, "every kill came after the work"
    print(f"commits checked after {KILLS} SIGKILLs: {checked}")
