"""Helpers for tests against a real broker: a worker process, producing, reading topics back.

`WorkerProcess` lives in `distillguard.testing.processes` (benchmarks use it too), re-exported.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from distillguard.streams.admin import ensure_topics
from distillguard.streams.settings import Settings, make_settings
from distillguard.testing.broker import free_port
from distillguard.testing.processes import WorkerProcess, family, scrape_metrics


def unique_settings(bootstrap: str, data_dir: Path, **over: Any) -> Settings:
    """Settings with fresh topic and group names, so tests sharing a broker never interfere."""
    tag = uuid.uuid4().hex[:8]
    base = dict(
        bootstrap_servers=bootstrap, app_id=f"dg-test-{tag}", input_topic=f"requests-{tag}",
        dlq_topic=f"dlq-{tag}", alerts_topic=f"alerts-{tag}", feedback_topic=f"feedback-{tag}",
        partitions=1, data_dir=str(data_dir), web_port=free_port(), rebalance_timeout=3.0,
        session_timeout=6.0,
        log_level="info", metrics_interval=1.0,
    )
    base.update(over)
    return make_settings(**base)


def create_topics(settings: Settings, input_partitions: int = 1) -> None:
    asyncio.run(ensure_topics(settings.bootstrap_servers, {
        settings.input_topic: input_partitions, settings.dlq_topic: 1,
        settings.alerts_topic: 1, settings.feedback_topic: 1,
    }))


async def produce(bootstrap: str, topic: str,
                  records: Sequence[tuple[bytes | None, bytes | None]]) -> None:
    """Send `records` (key, value) in order, acks=all, and wait until each one is acknowledged.

    Records up to 16 MiB pass (the DLQ tests send some over the 1 MiB contract limit).
    """
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20,
                                max_batch_size=512 * 1024, max_request_size=16 << 20)
    await producer.start()
    try:
        pending = []
        for key, value in records:
            pending.append(await producer.send(topic, value, key=key))
            if len(pending) >= 5000:  # bound what is in flight; errors surface here
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def keyed_events(n: int, accounts: int, seed: int) -> list[tuple[bytes, bytes]]:
    """`n` small valid events over `accounts` random accounts, keyed by account, one a second."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        account = f"acct-{rng.randrange(accounts)}"
        doc = {"event_id": f"e{i}", "ts": 1_767_225_600.0 + i, "account_id": account,
               "model": "m", "input_tokens": 10, "output_tokens": 200,
               "prompt": f"Write a function number {i} in python. Think step by step."}
        out.append((account.encode(), orjson.dumps(doc)))
    return out


def fetch(url: str) -> tuple[int, bytes]:
    """(HTTP status, body); (0, b"") if nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


async def _read_all(bootstrap: str, topic: str) -> list[ConsumerRecord]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        if not parts:
            await consumer._client.force_metadata_update()  # topic may be brand new
            parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in parts]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        out: list[ConsumerRecord] = []
        pending = {tp for tp in tps if end[tp] > 0}
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=1000)
            for tp, records in batch.items():
                out.extend(records)
                if records and records[-1].offset + 1 >= end[tp]:
                    pending.discard(tp)
        return out
    finally:
        await consumer.stop()


def read_topic(bootstrap: str, topic: str) -> list[ConsumerRecord]:
    """Every record now in `topic`, all partitions."""
    return asyncio.run(_read_all(bootstrap, topic))


def forwarded_events(records: Sequence[ConsumerRecord]) -> list[dict[str, Any]]:
    """The events in records of the internal events topic, unpacked; feedback left out.

    The worker packs many events into one message (a JSON array); a single JSON object
    (one event a message) is read too.
    """
    out: list[dict[str, Any]] = []
    for rec in records:
        if rec.value and rec.value[:1] == b"[":
            out.extend(orjson.loads(rec.value))
        elif rec.value and rec.value[:1] == b"{":
            out.append(orjson.loads(rec.value))
    return out


def latest_records(settings: Settings) -> dict[str, dict[str, Any]]:
    """The accounts table as its changelog holds it: account -> latest record."""
    out: dict[str, dict[str, Any]] = {}
    for rec in read_topic(settings.bootstrap_servers, f"{settings.app_id}-accounts-changelog"):
        if rec.value is not None:
            out[orjson.loads(rec.key)] = orjson.loads(rec.value)
    return out


def wait_until(cond: Callable[[], bool], timeout: float, what: str,
               worker: WorkerProcess | None = None, every: float = 1.0) -> None:
    """Poll `cond` every `every` s; fail, quoting the worker's log, if it dies or time runs out."""
    deadline = time.monotonic() + timeout
    while not cond():
        if worker is not None and not worker.alive:
            raise AssertionError(f"worker died while waiting for {what}:\n{worker.log()}")
        if time.monotonic() > deadline:
            tail = worker.log() if worker is not None else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}"
                                 f"{unassigned(worker)}\n{tail}")
        time.sleep(every)


def unassigned(worker: WorkerProcess | None) -> str:
    """A known stall, named: the group leader assigned before an internal topic existed.

    Faust then logs "Ignoring missing topic" and the worker owns no partition of that
    topic until a later rebalance. The worker now creates its internal topics before
    Faust starts, so this should not be seen again.
    """
    if worker is None or not worker.log_path.exists():
        return ""
    lines = [line.strip() for line in worker.log_path.read_text(errors="replace").splitlines()
             if "Ignoring missing topic" in line]
    return f" (the worker's log says: {lines})" if lines else ""


def counted(settings: Settings) -> int:
    """Events counted in the accounts table, as its changelog holds it."""
    return sum(r["n"] for r in latest_records(settings).values())


def wait_settled(settings: Settings, events: int, worker: WorkerProcess,
                 timeout: float) -> None:
    """Until `events` are counted and every partition, internal ones too, is read out.

    Alerts and campaigns come from later agents, so lag 0 must hold twice, a sampling
    interval apart: one sample taken mid-flight cannot fool it.
    """
    wait_until(lambda: counted(settings) >= events, timeout=timeout,
               what=f"{events} events in the accounts table", worker=worker)
    for _ in range(2):
        wait_until(lambda: drained(settings), timeout=120, what="consumer lag 0", worker=worker)
        time.sleep(2 * settings.metrics_interval)


def metric_values(settings: Settings, name: str) -> list[float]:
    """Values of one metric family on the worker's /metrics (empty if unreachable)."""
    return list(family(scrape_metrics(settings.web_host, settings.web_port), name).values())


def drained(settings: Settings) -> bool:
    """Every assigned partition, internal topics included, has been read to its end."""
    lags = metric_values(settings, "distillguard_consumer_lag_messages")
    return bool(lags) and not any(lags)


#: set to 1 to write a test's figures to benchmarks/results/ (normal runs leave the tree clean)
RECORD_ENV = "DISTILLGUARD_RECORD_RESULTS"
RESULTS_DIR = Path(__file__).resolve().parent.parent / "benchmarks" / "results"


def broker_description() -> str:
    """Which broker the `kafka_bootstrap` fixture gives, as its environment says."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return f"external ({os.environ['KAFKA_BOOTSTRAP_SERVERS']})"
    if os.environ.get("DISTILLGUARD_TEST_BROKER") == "apache":
        from deploy.kafka.launch import KAFKA_VERSION

        return f"Apache Kafka {KAFKA_VERSION}"
    return "testcontainers Kafka or embedded Tansu"


def record_result(name: str, section: str, figures: dict[str, Any]) -> Path | None:
    """Merge `figures` into benchmarks/results/<name>.json under `section`, if recording.

    Only with DISTILLGUARD_RECORD_RESULTS=1; the other sections of the file are kept.
    """
    if os.environ.get(RECORD_ENV) != "1":
        return None
    path = RESULTS_DIR / f"{name}.json"
    doc: dict[str, Any] = orjson.loads(path.read_bytes()) if path.exists() else {}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=RESULTS_DIR).stdout.strip()
    doc[section] = {**figures, "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "commit": commit or None, "cpus": os.cpu_count()}
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    return path
