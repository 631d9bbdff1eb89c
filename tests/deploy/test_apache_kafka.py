"""The Apache Kafka launcher (deploy/kafka/launch.py) against the real broker it starts.

Why: the integration suite can run against this broker (DISTILLGUARD_TEST_BROKER=apache)
and later tests restart it mid-stream, so the launcher itself must be proven:
records survive a clean restart and a crash on the same data directory, so do
committed consumer-group offsets (a restarted worker resumes from them), an
8 MiB record (the largest distillguard forwards unchanged to its DLQ) is
accepted, and stopping leaves no process behind.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from deploy.kafka.launch import MAX_MESSAGE_BYTES, KafkaBroker, main
from distillguard.testing.consume import read_topic

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("java") is None or shutil.which("mvn") is None,
                       reason="Apache Kafka needs `java` (JDK 17+) and `mvn` on PATH "
                              "to resolve and run the broker"),
]

TOPIC = "durability"
GROUP = "durability-group"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    with KafkaBroker(tmp_path_factory.mktemp("apache-kafka")) as kafka:
        yield kafka


async def produce(bootstrap: str, records: list[tuple[bytes, bytes]], topic: str = TOPIC) -> None:
    """Send with acks=all and wait for each acknowledgement.

    An acknowledged record is in the broker's log file: it survives a crash of
    the broker process (not of the machine: Kafka leaves fsync to the OS).
    """
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                max_request_size=MAX_MESSAGE_BYTES)
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def consume_and_commit(bootstrap: str, count: int, timeout: float = 30.0) -> int:
    """Read `count` records as a member of GROUP and commit, as a worker does; how many it read."""
    consumer = AIOKafkaConsumer(TOPIC, bootstrap_servers=bootstrap, group_id=GROUP,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                max_partition_fetch_bytes=MAX_MESSAGE_BYTES)
    await consumer.start()
    try:
        seen, deadline = 0, time.monotonic() + timeout
        while seen < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=1000)
            seen += sum(len(records) for records in batches.values())
        await consumer.commit()
        return seen
    finally:
        await consumer.stop()


async def committed(bootstrap: str) -> int | None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=GROUP,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        return await consumer.committed(TopicPartition(TOPIC, 0))
    finally:
        await consumer.stop()


def values(broker: KafkaBroker, topic: str = TOPIC) -> list[tuple[bytes | None, bytes | None]]:
    return [(r.key, r.value) for r in read_topic(broker.bootstrap_servers, topic)]


def assert_group_gone(pgid: int) -> None:
    """No process of the broker's process group is left (killpg with signal 0 only checks)."""
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)


def test_records_and_offsets_survive_clean_restart_and_crash(broker: KafkaBroker) -> None:
    big = os.urandom(8 << 20)  # incompressible, so the broker really receives 8 MiB
    first = [(b"acct-1", b'{"n": 1}'), (b"acct-big", big)]
    asyncio.run(produce(broker.bootstrap_servers, first))
    assert asyncio.run(consume_and_commit(broker.bootstrap_servers, 2)) == 2
    assert values(broker) == first

    pgid, port = broker.pid, broker.port
    assert pgid is not None
    began = time.monotonic()
    broker.restart()  # SIGTERM: Kafka's clean shutdown
    clean_restart = time.monotonic() - began
    assert_group_gone(pgid)
    assert broker.port == port, "a restarted broker must come back at the same address"
    assert values(broker) == first, broker.log_tail()
    assert asyncio.run(committed(broker.bootstrap_servers)) == 2

    asyncio.run(produce(broker.bootstrap_servers, [(b"acct-2", b'{"n": 2}')]))
    pgid = broker.pid
    assert pgid is not None
    broker.stop(timeout=0)  # SIGKILL: a crash, then log recovery on start
    assert_group_gone(pgid)
    began = time.monotonic()
    broker.start()
    crash_restart = time.monotonic() - began
    assert values(broker) == [*first, (b"acct-2", b'{"n": 2}')], broker.log_tail()
    assert asyncio.run(committed(broker.bootstrap_servers)) == 2
    print(f"\napache kafka: clean restart {clean_restart:.1f}s, start after crash "
          f"{crash_restart:.1f}s")


def test_topics_are_created_on_first_use(broker: KafkaBroker) -> None:
    """distillguard relies on auto-creation for the DLQ and alerts topics when allowed."""
    asyncio.run(produce(broker.bootstrap_servers, [(b"k", b"v")], topic="never-created"))
    assert values(broker, "never-created") == [(b"k", b"v")]


def test_cli_reports_missing_maven(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Without mvn and without cached jars the launcher names what is missing, exit status 1."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["--data-dir", str(tmp_path / "data")]) == 1
    assert "mvn is not on PATH" in capsys.readouterr().err
