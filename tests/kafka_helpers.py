"""Helpers for tests against a real broker: a worker process, reading topics back."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from streams.admin import ensure_topics
from streams.broker import free_port
from streams.processes import stop_group
from streams.settings import Settings, as_environment


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
    return Settings(**base)  # type: ignore[arg-type]


def create_topics(settings: Settings, input_partitions: int = 1) -> None:
    asyncio.run(ensure_topics(settings.bootstrap_servers, {
        settings.input_topic: input_partitions, settings.dlq_topic: 1,
        settings.alerts_topic: 1, settings.feedback_topic: 1,
    }))


@dataclass
class WorkerProcess:
    """`distillguard worker` as a child process, as an SRE would run it."""

    settings: Settings
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        env = {**os.environ, **as_environment(self.settings)}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streams.cli", "worker"], env=env, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 30.0) -> int | None:
        return stop_group(self.proc, timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]


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


def latest_records(settings: Settings) -> dict[str, dict[str, Any]]:
    """The accounts table as its changelog holds it: account -> latest record."""
    out: dict[str, dict[str, Any]] = {}
    for rec in read_topic(settings.bootstrap_servers, f"{settings.app_id}-accounts-changelog"):
        if rec.value is not None:
            out[orjson.loads(rec.key)] = orjson.loads(rec.value)
    return out


def wait_until(cond: Callable[[], bool], timeout: float, what: str,
               worker: WorkerProcess | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if worker is not None and not worker.alive:
            raise AssertionError(f"worker died while waiting for {what}:\n{worker.log()}")
        if time.monotonic() > deadline:
            tail = worker.log() if worker is not None else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{tail}")
        time.sleep(1.0)


def metric_values(settings: Settings, name: str) -> list[float]:
    """Values of one metric family on the worker's /metrics (empty if unreachable)."""
    url = f"http://{settings.web_host}:{settings.web_port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return []
    return [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line.startswith(name + "{") or line.startswith(name + " ")]


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
