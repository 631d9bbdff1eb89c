"""The batch path's at-least-once guarantee, checked at the moment of a crash.

distillguard.streams.batching acks a fetched batch only after its handler ran, so Faust
commits an offset only once the effects of every record before it are in
Kafka. The test SIGKILLs a busy worker (no clean shutdown, nothing flushed on
the way out) several times and, after each kill, reads what the group has
committed and what the topics hold:

- input: every record below the committed input offset was forwarded, i.e.
  its input position (`src`) is in the events topic;
- events: every event in a packed message below the committed events offset
  is in its account's table record (the record's highest applied offset for
  the event's input partition is at or past the event's offset).

With the input keyed by account over as many partitions as the tables, ingest
scores each record in place (`Handlers.in_place`) and forwards nothing; the
check is then that every input record below the committed input offset is in
its account's table record.

Each kill comes just after the group's committed offset moved, at a random
point of a wave of input. Committing before the effects breaks the checks:
acking a batch before its handler runs fails the forwarded variant (the
handler awaits its forwards, and a commit can run meanwhile), and committing
before the handler fails the in-place one (20,540 of 99,406 records missing
in one run).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from distillguard.streams.admin import TopicSpec, ensure_topics
from distillguard.streams.recovery import committed_offsets
from distillguard.streams.settings import Settings
from distillguard.testing.consume import read_topic
from distillguard.testing.metrics import metric_values
from distillguard.testing.processes import WorkerProcess
from distillguard.testing.settings import create_topics, unique_settings
from tests.kafka_helpers import keyed_events, latest_records, wait_until

pytestmark = pytest.mark.integration

ACCOUNTS = 60
EVENTS = 100_000
#: the worker's commit interval (Faust's default 2.8 s): many commits inside each wave, so a
#: kill just after one lands mid-wave even when the worker takes a wave in a few seconds
COMMIT_INTERVAL_S = "0.5"
KILLS = 3


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


def committed(settings: Settings, topic: str, partitions: int) -> dict[int, int]:
    """The group's committed offset on each partition of `topic`."""
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    offsets = asyncio.run(committed_offsets(settings.bootstrap_servers, settings.app_id, tps))
    return {tp.partition: offset for tp, offset in offsets.items()}


def commits(settings: Settings, input_partitions: int) -> int:
    """The group's committed offsets, input and events topics, summed: it grows at each commit.

    Forwarded, ingest can commit a whole wave of input while scoring still lags behind,
    so the input offsets alone may never move again after a given point of the scoring.
    """
    tps = ([TopicPartition(settings.input_topic, p) for p in range(input_partitions)]
           + [TopicPartition(settings.events_topic, p) for p in range(settings.partitions)])
    offsets = asyncio.run(committed_offsets(settings.bootstrap_servers, settings.app_id, tps))
    return sum(offsets.values())


def check_commits_cover_effects(settings: Settings) -> dict[str, int]:
    """The two checks of the module docstring, on what Kafka holds now."""
    events_topic, bootstrap = settings.events_topic, settings.bootstrap_servers
    input_offset = committed(settings, settings.input_topic, 1)[0]
    committed_events = committed(settings, events_topic, settings.partitions)
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
    lost_forwards = [o for o in range(input_offset) if o not in forwarded]
    assert not lost_forwards, (f"input offsets below the commit ({input_offset}) never "
                               f"forwarded: {lost_forwards[:10]}")
    assert missing == 0, (f"{missing} of {covered} events below the committed events offsets "
                          f"are not in their account's table record")
    return {"committed_input": input_offset, "covered": covered}


def check_in_place_commits_cover_effects(settings: Settings) -> dict[str, int]:
    """The in-place variant: input records below the committed input offsets are applied."""
    offsets = committed(settings, settings.input_topic, settings.partitions)
    table = latest_records(settings)
    covered = missing = 0
    for rec in read_topic(settings.bootstrap_servers, settings.input_topic):
        if rec.offset >= offsets[rec.partition]:
            continue
        covered += 1
        account = orjson.loads(rec.value)["account_id"]
        applied = table.get(account, {}).get("offs", {}).get(str(rec.partition), -1)
        if applied < rec.offset:
            missing += 1
    forwarded = [r for r in read_topic(settings.bootstrap_servers, settings.events_topic)
                 if r.value.startswith(b"[")]
    assert not forwarded, f"{len(forwarded)} packs forwarded although every record was in place"
    assert missing == 0, (f"{missing} of {covered} input records below the committed offsets "
                          f"{offsets} are not in their account's table record")
    return {"committed_input": sum(offsets.values()), "covered": covered}


@pytest.mark.parametrize("input_partitions", [1, 2], ids=["forwarded", "in-place"])
def test_commits_never_run_ahead_of_effects(kafka_bootstrap: str, tmp_path: Path,
                                            input_partitions: int,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROKER_COMMIT_INTERVAL", COMMIT_INTERVAL_S)  # Faust reads it
    settings = unique_settings(kafka_bootstrap, tmp_path / "data", partitions=2, warmup=10**9)
    create_topics(settings, input_partitions=input_partitions)
    check = (check_commits_cover_effects if input_partitions == 1
             else check_in_place_commits_cover_effects)
    rng = random.Random(11)
    stream = keyed_events(EVENTS * KILLS, ACCOUNTS, seed=5)
    checked = []
    for kill in range(KILLS):  # a fresh wave of input each time, so the kill lands mid-work
        asyncio.run(produce(kafka_bootstrap, settings.input_topic,
                            stream[kill * EVENTS:(kill + 1) * EVENTS]))
        worker = WorkerProcess(settings, tmp_path / f"worker-{kill}.log").start()
        try:
            # killed at a random point of its wave, just after a commit: when a commit that
            # ran ahead of its batch's effects would leave them missing
            due = rng.uniform(0.2, 0.6) * EVENTS
            wait_until(lambda: counted(settings) >= due, 120,  # noqa: B023
                       "the worker to count events", worker, every=0.05)
            mark = commits(settings, input_partitions)
            wait_until(lambda: commits(settings, input_partitions) > mark,  # noqa: B023
                       60, "the worker to commit", worker, every=0.01)
            assert worker.proc is not None
            os.killpg(worker.proc.pid, signal.SIGKILL)
            worker.proc.wait(10)
        finally:
            worker.stop()
        checked.append(check(settings))
    # mid-work: some stage's commits (input, or the events the checks cover) short of the
    # events sent so far; forwarded, ingest may commit a whole wave while scoring lags
    mid_work = [c for k, c in enumerate(checked) if 0 < c["covered"] and
                min(c["committed_input"], c["covered"]) < (k + 1) * EVENTS]
    assert mid_work, f"no kill landed mid-work after a commit: {checked}"
    print(f"commits checked after {KILLS} SIGKILLs: {checked}")


async def refuses(bootstrap: str, topic: str, value: bytes) -> bool:
    """Whether the broker refuses `value` on `topic`."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value)
        return False
    except KafkaError:
        return True
    finally:
        await producer.stop()


def test_a_refused_alert_stops_the_worker_before_it_commits(kafka_bootstrap: str,
                                                           tmp_path: Path) -> None:
    """An alert Kafka finally refuses is an effect that never reached Kafka: the worker must
    stop (exit 1) without committing the input that caused it (distillguard.streams.batching's
    `SequencedProducer`), so a restarted worker scores those events again.

    The refusal is real: the alerts topic takes at most 200 bytes a message, and every alert
    is larger. Brokers that do not enforce a topic's `max.message.bytes` skip the test.
    """
    settings = unique_settings(kafka_bootstrap, tmp_path / "data", warmup=10**9)
    asyncio.run(ensure_topics(kafka_bootstrap, {
        settings.input_topic: 1, settings.dlq_topic: 1, settings.feedback_topic: 1,
        settings.alerts_topic: TopicSpec(1, config={"max.message.bytes": "200"})}))
    if not asyncio.run(refuses(kafka_bootstrap, settings.alerts_topic, b"x" * 1000)):
        pytest.skip("this broker does not enforce a topic's max.message.bytes")
    loud = [(b"acct-loud", orjson.dumps({
        "event_id": f"e{i}", "ts": 1_767_225_600.0 + 60 * i, "account_id": "acct-loud",
        "model": "m", "input_tokens": 10, "output_tokens": 3000, "max_tokens": 3000,
        "stop_reason": "max_tokens", "turns": 1, "task": "coding",
        "prompt": f"Think step by step: implement parser {i} in python"})) for i in range(40)]
    asyncio.run(produce(kafka_bootstrap, settings.input_topic, loud))
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        assert worker.proc is not None
        try:
            returncode = worker.proc.wait(120)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the worker ran on past a refused alert:\n{worker.log()}") \
                from None
        assert returncode == 1, worker.log()
    finally:
        worker.stop()
    log = worker.log_path.read_text(errors="replace")
    assert "ProducerSendError: Kafka refused 1 messages" in log, worker.log()
    assert "leaked" not in log, "objects were left to leak at exit (see distillguard.streams.cli)"
    assert committed(settings, settings.input_topic, 1) == {0: 0}, "input committed past it"
