"""Two workers in one consumer group: the input is split, every event counted once, in place.

The input is keyed by account over as many partitions as the tables, so Faust
co-partitions it with the tables and each worker scores its own records where
they arrive. Events go in waves of 500 until both workers have counted some:
on Apache Kafka a worker can drop out of the group in its first rebalance and
rejoin seconds later, after a single wave would have gone to the other. The
checks:

- each account's `n` in the accounts changelog equals the distinct events sent
  for it (nothing lost or counted twice across the two workers);
- both workers counted events (the group really split the input);
- nothing went through the internal events topic. Followers used to read the
  input's partition count from aiokafka's coordinator snapshot, which only the
  group leader fills, and sent every event through Kafka back to themselves.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from distillguard.testing.broker import free_port
from distillguard.testing.consume import read_topic
from distillguard.testing.metrics import metric_values
from distillguard.testing.processes import WorkerProcess
from distillguard.testing.produce import produce
from distillguard.testing.settings import create_topics, unique_settings
from tests.kafka_helpers import forwarded_events, keyed_events, latest_records, wait_until

pytestmark = pytest.mark.integration

ACCOUNTS = 40
#: events sent a wave at a time until both workers have counted some (a worker that joins
#: late, or is dropped from the group in a rebalance and rejoins, still gets its share)
WAVE = 500
MAX_EVENTS = 40_000
PARTITIONS = 2


def processed(worker: WorkerProcess) -> float:
    return sum(metric_values(worker.settings, "distillguard_events_processed_total"))


def test_two_workers_split_the_input_and_score_every_event_in_place(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    settings = unique_settings(kafka_bootstrap, tmp_path / "one", partitions=PARTITIONS,
                               warmup=10**9)
    other = dataclasses.replace(settings, web_port=free_port(), data_dir=str(tmp_path / "two"))
    create_topics(settings, input_partitions=PARTITIONS)
    workers = [WorkerProcess(s, tmp_path / f"worker-{i}.log").start()
               for i, s in enumerate((settings, other))]
    try:
        for worker in workers:
            worker.wait_ready()
        stream = keyed_events(MAX_EVENTS, ACCOUNTS, seed=3)
        sent = 0
        while sent < MAX_EVENTS and not all(processed(worker) > 0 for worker in workers):
            asyncio.run(produce(kafka_bootstrap, settings.input_topic,
                                stream[sent:sent + WAVE]))
            sent += WAVE
            time.sleep(1.0)
        expected = Counter(orjson.loads(value)["account_id"] for _, value in stream[:sent])

        def all_counted() -> bool:
            table = latest_records(settings)
            return sum(record["n"] for record in table.values()) >= sent

        wait_until(all_counted, 180, f"{sent} events counted", workers[0])
        assert all(worker.alive for worker in workers), "a worker died"
        counts = {account: record["n"] for account, record in latest_records(settings).items()}
        assert counts == dict(expected)
        per_worker = [processed(worker) for worker in workers]
        assert all(n > 0 for n in per_worker), (f"after {sent} events one worker had counted "
                                                f"nothing: {per_worker}")
        forwarded = forwarded_events(read_topic(kafka_bootstrap, settings.events_topic))
        assert not forwarded, (f"{len(forwarded)} events went through the events topic although "
                               f"every record was on its account's partition")
    finally:
        for worker in workers:
            worker.stop()
