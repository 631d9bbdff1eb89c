"""100,000 hostile records through a real worker: every one accounted for, the worker alive.

`tests/test_fuzz.py` proves `parse_event` never raises on hostile input. This
runs its seeded mutation generator (invalid UTF-8, 10,000-deep nesting, NaN
and 1e309, wrong types, RFC 3339 edges, far-past and far-future times,
missing keys, control, bidi, zero-width and confusable characters in ids)
through the whole worker instead: records are produced keyed (hostile keys
too) and unkeyed to the input topic of a worker on the broker `kafka_bootstrap`
gives, and then

- `/metrics` must count every record once: accepted + rejected == sent;
- the worker must still be alive;
- the DLQ must hold exactly the rejected records, each once (by source
  offset), unchanged, with an `x-dlq-reason` header; per reason, the DLQ,
  `distillguard_dead_letters_total{reason}` and `parse_event` run here on
  the same bytes must agree exactly;
- the internal events topic must hold exactly the accepted records.

Records over 1 MiB are kept to a few (the generator makes about 900, which
would take the broker minutes to move); one of them is just under the 8 MiB
the worker forwards unchanged.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from pathlib import Path

import pytest

from distillguard.models.events import MAX_RECORD_BYTES, Rejection, parse_event
from distillguard.testing.consume import read_topic
from distillguard.testing.metrics import family
from distillguard.testing.processes import WorkerProcess
from distillguard.testing.produce import produce
from distillguard.testing.settings import create_topics, unique_settings
from tests.kafka_helpers import forwarded_events
from tests.models.test_fuzz import FUZZ_SEED, fuzz_cases

pytestmark = pytest.mark.integration

TOTAL = 100_000
SEED = FUZZ_SEED + 7  # not the validator fuzz's own sequence: more coverage across the two
MAX_LARGE = 4  # records over 1 MiB from the generator (plus the one near 8 MiB below)
NEAR_LIMIT = (8 << 20) - 4096  # under the worker's 8 MiB fetch and send limits with headers


def build_records(total: int = TOTAL) -> list[tuple[bytes | None, bytes | None]]:
    """`total` (key, value) records: mutated events; keys absent, plain or hostile bytes."""
    rng = random.Random(SEED)
    out: list[tuple[bytes | None, bytes | None]] = []
    large = 0
    for case in fuzz_cases(random.Random(SEED), 10 * total):
        raw = case.raw
        if raw is not None and len(raw) > MAX_RECORD_BYTES:
            if large >= MAX_LARGE or len(raw) > 2 * MAX_RECORD_BYTES:
                continue
            large += 1
        roll = rng.random()
        if roll < 0.4:
            key = None
        elif roll < 0.9:
            key = f"acct-{rng.randrange(1000)}".encode()
        else:  # what a broken gateway might put in a key: any bytes, even none
            key = rng.randbytes(rng.randrange(0, 24))
        if raw is None and key is None:  # a tombstone needs a key (Kafka refuses neither)
            key = b"tombstone"
        out.append((key, raw))
        if len(out) == total - 1:
            break
    out.append((b"near-limit", b"\xff" * NEAR_LIMIT))  # too_large, forwarded unchanged
    return out


def outcome(raw: bytes | None) -> str:
    parsed = parse_event(raw)
    return parsed.reason if isinstance(parsed, Rejection) else "accepted"


#: how long the worker may take to read every record: a liveness bound, not a speed target
#: (speed lives in benchmarks/throughput.py; a slow 2-core host running Apache Kafka beside
#: the worker needs several minutes)
READ_SECONDS = 600


def ingested(worker: WorkerProcess) -> int:
    s = worker.metrics()
    return int(s.get('distillguard_ingest_records_total{result="accepted"}', 0)
               + s.get('distillguard_ingest_records_total{result="rejected"}', 0))


def test_hostile_records_through_a_real_worker(kafka_bootstrap: str, tmp_path: Path) -> None:
    began = time.monotonic()
    records = build_records()
    outcomes = [outcome(value) for _, value in records]
    expected = Counter(outcomes)
    built_s = time.monotonic() - began
    settings = unique_settings(kafka_bootstrap, tmp_path / "data", log_level="warn")
    create_topics(settings, input_partitions=2)
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        began = time.monotonic()
        asyncio.run(produce(kafka_bootstrap, settings.input_topic, records))
        produce_s = time.monotonic() - began
        deadline = time.monotonic() + READ_SECONDS
        while ingested(worker) < len(records):
            assert worker.alive, f"the worker died:\n{worker.log()}"
            assert time.monotonic() < deadline, (
                f"after {READ_SECONDS} s the worker has read {ingested(worker)} of "
                f"{len(records)} records:\n{worker.log()}")
            time.sleep(1.0)
        process_s = time.monotonic() - began
        time.sleep(2.0)  # a record counted twice would show now
        assert worker.alive, f"the worker died:\n{worker.log()}"
        metrics = worker.metrics()
        dlq = read_topic(kafka_bootstrap, settings.dlq_topic)
        events = read_topic(kafka_bootstrap, settings.events_topic)
    finally:
        status = worker.stop()

    accepted = int(metrics['distillguard_ingest_records_total{result="accepted"}'])
    rejected = int(metrics['distillguard_ingest_records_total{result="rejected"}'])
    dead_letters = {series.split('"')[1]: int(v) for series, v in
                    family(metrics, "distillguard_dead_letters_total").items() if v}
    dlq_reasons = Counter(dict(r.headers).get("x-dlq-reason", b"<none>").decode() for r in dlq)
    want_rejected = {r: n for r, n in expected.items() if r != "accepted"}
    print(f"\nworker fuzz: tried {len(records)}, accepted {accepted} (expected "
          f"{expected['accepted']}), dead-lettered {rejected} {dict(sorted(dlq_reasons.items()))}; "
          f"build {built_s:.0f}s, produce {produce_s:.0f}s, all ingested after "
          f"{process_s:.0f}s; worker exit status {status}")

    assert accepted + rejected == len(records)
    assert accepted == expected["accepted"] and rejected == sum(want_rejected.values())
    assert dead_letters == want_rejected, "dead_letters_total by reason != parse_event"
    assert len(dlq) == rejected, f"DLQ holds {len(dlq)} records, {rejected} were rejected"
    assert dict(dlq_reasons) == want_rejected, "x-dlq-reason headers != parse_event"
    sources = Counter((dict(r.headers)["x-source-partition"], dict(r.headers)["x-source-offset"])
                      for r in dlq)
    assert all(n == 1 for n in sources.values()), "a record was dead-lettered twice"
    assert {dict(r.headers)["x-source-topic"].decode() for r in dlq} == {settings.input_topic}
    # unchanged: the DLQ holds the rejected records' bytes (a tombstone as an empty value)
    sent = Counter((key, value or b"")
                   for (key, value), result in zip(records, outcomes, strict=True)
                   if result != "accepted")
    got = Counter((r.key, r.value or b"") for r in dlq)
    assert got == sent, (f"{sum((sent - got).values())} rejected records not in the DLQ "
                         f"unchanged, {sum((got - sent).values())} DLQ records not sent")
    forwarded = forwarded_events(events)
    assert len(forwarded) == accepted, (
        f"events topic holds {len(forwarded)} events, accepted {accepted}")
