"""Prompt and system text never leave the worker's memory: not to Kafka, logs or metrics.

Markers unique to this run are put into the `prompt` and `system` of many
simulated events; the worker (log level `debug`, to be strict) processes
them end to end (ingest, scoring, fingerprint aggregates, campaigns,
alerts). Then the markers are looked for in:

- every topic on the broker, read in full, keys, values and headers,
  Faust's changelogs and internal topics included, except two: the input
  topic, which the gateway writes the text to (it must hold every marker),
  and the dead-letter topic, which by contract holds rejected records'
  original bytes: some marker-carrying records are made invalid on purpose,
  and the markers must be found there, which proves the scan finds them;
- the worker's log output;
- `/metrics`, `/healthz` and `/readyz`;
- the worker's data directory.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from distillguard import simulator
from distillguard.testing.consume import read_topic
from distillguard.testing.metrics import fetch
from distillguard.testing.processes import WorkerProcess
from distillguard.testing.produce import produce
from distillguard.testing.settings import create_topics, unique_settings
from tests.kafka_helpers import wait_settled

pytestmark = pytest.mark.integration

TAG = uuid.uuid4().hex[:12]
PROMPT_MARK = f"PROMPTMARK{TAG}"
SYSTEM_MARK = f"SYSTEMMARK{TAG}"
MARKS = (PROMPT_MARK.encode(), SYSTEM_MARK.encode())
CFG = simulator.SimConfig(seed=41, days=1.0, organic_accounts=30, loud_accounts=1,
                          hydra_accounts=8)


def build_records() -> tuple[list[tuple[bytes | None, bytes]], int]:
    """(key, value) records, and how many valid events carry a marker.

    Every second event gets the markers in its prompt and system text (in
    the middle, at the start, alone); a few marker-carrying records are
    invalid in each way the DLQ knows, so they are dead-lettered verbatim.
    """
    records: list[tuple[bytes | None, bytes]] = []
    marked = 0
    events = list(simulator.generate(CFG))
    for i, ev in enumerate(events):
        if i % 2 == 0:
            prompt = ev.get("prompt") or ""
            ev = {**ev, "prompt": (f"{prompt} {PROMPT_MARK} {prompt}" if i % 3 else PROMPT_MARK),
                  "system": f"{SYSTEM_MARK} {ev.get('system') or ''}"}
            marked += 1
        records.append((ev["account_id"].encode() if i % 5 else None, orjson.dumps(ev)))
    base = {**events[0], "prompt": f"please {PROMPT_MARK}", "system": f"be {SYSTEM_MARK}"}
    invalid = [
        {**base, "event_id": "bad-ts", "ts": "yesterday"},                     # bad_timestamp
        {k: v for k, v in base.items() if k != "model"} | {"event_id": "no-model"},  # missing
        {**base, "event_id": "bad-type", "input_tokens": "many"},              # bad_type
        {**base, "event_id": "bad-value", "output_tokens": -1},                # bad_value
        {**base, "event_id": "huge", "prompt": PROMPT_MARK * (1 + (1 << 20) // len(PROMPT_MARK))},
    ]
    records.extend((b"bad", orjson.dumps(doc)) for doc in invalid)
    records.append((None, orjson.dumps(base)[:-1]))  # truncated JSON: invalid_json
    records.append((None, orjson.dumps([base])))      # not_object
    return records, marked


async def all_topics(bootstrap: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return sorted(await admin.list_topics())
    finally:
        await admin.close()


def found(blob: bytes | None) -> list[str]:
    return [m.decode() for m in MARKS if blob and m in blob]


@pytest.fixture(scope="module")
def run(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("privacy")
    settings = unique_settings(kafka_bootstrap, tmp / "data", log_level="debug", partitions=2)
    create_topics(settings, input_partitions=2)
    records, marked = build_records()
    valid = {orjson.loads(v)["event_id"] for _, v in records[:-7]}
    worker = WorkerProcess(settings, tmp / "worker.log").start()
    try:
        asyncio.run(produce(kafka_bootstrap, settings.input_topic, records))
        wait_settled(settings, len(valid), worker, timeout=180)
        web = f"http://{settings.web_host}:{settings.web_port}"
        pages = {path: fetch(web + path)[1] for path in ("/metrics", "/healthz", "/readyz")}
        topics = {}
        for topic in asyncio.run(all_topics(kafka_bootstrap)):
            topics[topic] = read_topic(kafka_bootstrap, topic)
        yield {"settings": settings, "records": len(records), "marked": marked, "pages": pages,
               "topics": topics, "alive": worker.alive, "data_dir": tmp / "data",
               "log_path": worker.log_path}
    finally:
        worker.stop()


def test_markers_reach_the_dead_letter_topic_so_the_scan_works(run: dict[str, Any]) -> None:
    dlq = run["topics"][run["settings"].dlq_topic]
    assert len(dlq) == 7, [dict(r.headers).get("x-dlq-reason") for r in dlq]
    for record in dlq:
        assert found(record.value) and found(record.value)[0] == PROMPT_MARK, record.value[:200]
    assert {m for r in dlq for m in found(r.value)} == {PROMPT_MARK, SYSTEM_MARK}


def test_no_marker_in_any_other_topic(run: dict[str, Any]) -> None:
    settings = run["settings"]
    tag = settings.app_id.rsplit("-", 1)[-1]  # unique_settings puts it in every name
    mine = [t for t in run["topics"] if tag in t]
    assert f"{settings.app_id}-accounts-changelog" in mine and settings.alerts_topic in mine
    assert any(run["topics"][settings.alerts_topic]), "no alert: the alert path went unchecked"
    leaks = []
    scanned = 0
    for topic, records in run["topics"].items():
        if topic in (settings.dlq_topic, settings.input_topic):
            continue
        for r in records:
            scanned += 1
            hits = found(r.key) + found(r.value) + [m for _, v in r.headers for m in found(v)]
            if hits:
                leaks.append((topic, r.partition, r.offset, hits))
    print(f"\nprivacy: {run['marked']} of {run['records']} records carry the markers; scanned "
          f"{scanned} records in {len(run['topics']) - 2} topics ({len(mine)} of this worker): "
          f"{len(leaks)} with a marker")
    assert not leaks, leaks[:20]


def test_input_topic_holds_the_markers(run: dict[str, Any]) -> None:
    """The input topic is the gateway's, outside the worker: a sanity check of the markers."""
    records = run["topics"][run["settings"].input_topic]
    assert sum(bool(found(r.value)) for r in records) == run["marked"] + 7


def test_no_marker_in_worker_logs(run: dict[str, Any]) -> None:
    log = run["log_path"].read_bytes()
    assert b"DEBUG" in log, "the worker did not log at debug level: the check proves little"
    leaks = [line for line in log.splitlines() if found(line)]
    assert not leaks, (f"{len(leaks)} lines of the worker's log carry prompt or system text, "
                       f"e.g. {[line[:240] for line in leaks[:4]]}")


def test_no_marker_on_the_web_port(run: dict[str, Any]) -> None:
    assert b"distillguard_ingest_records_total" in run["pages"]["/metrics"]
    for path, body in run["pages"].items():
        assert not found(body), path


def test_no_marker_in_the_data_directory(run: dict[str, Any]) -> None:
    files = [p for p in Path(run["data_dir"]).rglob("*") if p.is_file()]
    assert not [str(p) for p in files if found(p.read_bytes())]
    assert run["alive"]
