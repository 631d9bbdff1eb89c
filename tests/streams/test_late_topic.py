"""A worker started before its input topic exists: not ready and says why, then reads it.

Found with a real broker: a worker started with an input topic that did not exist yet
answered /readyz 200 (it had its internal partitions) while it read nothing, and began
reading only at its Kafka client's next metadata refresh, up to 5 minutes after the topic
appeared; on a broker that auto-creates topics its own metadata request had meanwhile
created the gateway's topic, with the broker's default partition count. Now the worker
never creates a topic it reads, reports the missing topic on /readyz (503), in
`distillguard_missing_topics` and in one warning naming the setting, and reads the topic
within seconds of its creation (`distillguard.streams.sources`).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from distillguard.streams.admin import ensure_topics
from distillguard.testing.metrics import fetch, total
from distillguard.testing.processes import WorkerProcess
from distillguard.testing.produce import produce
from distillguard.testing.settings import unique_settings, worker_topics
from tests.kafka_helpers import keyed_events, wait_until

pytestmark = pytest.mark.integration

EVENTS = 300
#: seconds from the topic's creation until every record is counted; generous for CI
PICKUP_BOUND = 60.0
#: partitions of the late topic: not the 1 a broker's auto-creation would give
PARTITIONS = 3


def readyz(worker: WorkerProcess) -> tuple[int, dict[str, object]]:
    status, body = fetch(f"http://{worker.settings.web_host}:{worker.settings.web_port}/readyz")
    return status, (orjson.loads(body) if status else {})


def topic_exists(bootstrap: str, topic: str) -> bool:
    async def listed() -> list[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            return list(await admin.list_topics())
        finally:
            await admin.close()

    return topic in asyncio.run(listed())


def warnings_about(worker: WorkerProcess, topic: str) -> list[str]:
    return [line for line in worker.log_path.read_text(errors="replace").splitlines()
            if "WARNING" in line and repr(topic) in line and "does not exist" in line]


def test_a_worker_waits_for_its_input_topic_and_reads_it_once_created(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    settings = unique_settings(kafka_bootstrap, tmp_path / "data")
    late = settings.input_topic
    side = {name: n for name, n in worker_topics(settings).items() if name != late}
    asyncio.run(ensure_topics(kafka_bootstrap, side))
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        # not ready, and why: the input topic is named
        wait_until(lambda: readyz(worker)[1].get("missing_topics") == [late], timeout=120,
                   what=f"/readyz naming {late} as missing", worker=worker)
        status, body = readyz(worker)
        assert status == 503 and body["ready"] is False, body
        assert body["assigned"] is True, body  # its internal partitions: the old "ready"
        assert total(worker.metrics(), "distillguard_missing_topics") == 1
        # one warning naming the topic and the setting, not one per check
        wait_until(lambda: bool(warnings_about(worker, late)), timeout=30,
                   what="the missing-topic warning", worker=worker, every=0.5)
        time.sleep(8)  # several checks (every 2 s) later
        lines = warnings_about(worker, late)
        assert len(lines) == 1, lines
        assert "--input-topic" in lines[0] and "DISTILLGUARD_INPUT_TOPIC" in lines[0], lines
        assert "not found in cluster metadata" not in worker.log(), \
            "aiokafka's error line for the missing topic repeats every metadata refresh"
        # the worker's own metadata requests must not have created the gateway's topic
        assert not topic_exists(kafka_bootstrap, late), "the worker auto-created its input"

        created = asyncio.run(ensure_topics(kafka_bootstrap, {late: PARTITIONS}))
        began = time.monotonic()
        assert created == [late]
        asyncio.run(produce(kafka_bootstrap, late, keyed_events(EVENTS, 20, seed=5)))
        first: list[float] = []

        def all_counted() -> bool:
            accepted = total(worker.metrics(), "distillguard_ingest_records_total",
                             result="accepted") or 0
            if accepted and not first:
                first.append(time.monotonic() - began)
            return accepted >= EVENTS

        wait_until(all_counted, timeout=PICKUP_BOUND,
                   what=f"{EVENTS} records of {late} counted", worker=worker, every=0.25)
        done = time.monotonic() - began
        wait_until(lambda: readyz(worker)[0] == 200, timeout=30, what="/readyz 200",
                   worker=worker, every=0.25)
        status, body = readyz(worker)
        assert body["ready"] is True and body["missing_topics"] == [], body
        assert total(worker.metrics(), "distillguard_missing_topics") == 0
        assert len(warnings_about(worker, late)) == 1
        print(f"\nlate topic: first record counted {first[0]:.1f}s and all {EVENTS} "
              f"{done:.1f}s after the topic was created")
    finally:
        worker.stop()
