"""Test-only helpers against a real broker: test data, waiting for a worker, recording figures.

The harness tests and benchmarks share (worker process, settings, producing, reading
topics, metrics) is `distillguard.testing`; this keeps only what the tests alone need.
"""

from __future__ import annotations

import os
import random
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
from aiokafka import ConsumerRecord

from distillguard.streams.settings import Settings
from distillguard.testing.consume import read_topic
from distillguard.testing.metrics import metric_values
from distillguard.testing.processes import WorkerProcess


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


def comparable_alerts(alerts: list[dict[str, Any]], source: str) -> list[dict[str, Any]]:
    """The alerts one part of the detector sends, in order, as worker and replay must agree.

    `source`: "account" (an account's own score), "member" (the campaign graph naming
    an account that joined an alerted campaign) or "campaign". The worker sends the
    three from different agents, so they interleave differently than in replay, and
    the campaign id in an account's own alert depends on how far the campaign agent
    has got: it is left out.
    """
    def source_of(alert: dict[str, Any]) -> str:
        if alert["kind"] == "campaign":
            return "campaign"
        member = any(r["signal"] == "campaign_member" for r in alert["reasons"])
        return "member" if member else "account"

    out = [dict(a) for a in alerts if source_of(a) == source]
    if source == "account":
        for a in out:
            a["evidence"] = {k: v for k, v in a["evidence"].items() if k != "campaign_id"}
    return out
