"""Reliability of the worker process: SIGKILL crashes, a broker restart, SIGTERM.

What is checked, and why:

- **Crash recovery** (Apache Kafka started here, 2 partitions). A fixed input
  is produced at a steady rate once the workers are ready (produced all at
  once, the batch worker takes it in one or two fetches and its changelog jumps
  from nothing to everything: no kill could land mid-stream); the worker is
  SIGKILLed at seeded random points (about 20%, 45% and 70% of the events in
  the accounts changelog) and started again
  each time with the same settings (same app id: same consumer group, topics
  and table). At the end every account's `n` in its latest changelog record
  must equal the distinct events sent for it (nothing lost, nothing counted
  twice), and every account alert a crash-free worker (same input, fresh app
  id) sends must be in the crashed run's alerts topic (by `alert_id`;
  repeats are allowed: delivery is at least once). Campaign alerts are
  compared by (subject, severity). The population anomaly model lives only
  in worker memory and starts its warm-up again after a crash, so it is
  disabled here (`warmup=10**9`): with it, scores after a crash differ by
  design and no exact comparison is possible.
- **Broker restart** (Apache Kafka): while the worker consumes a stream that is
  being produced, the broker is stopped (clean SIGTERM) and started again on
  the same data directory and port. The worker is not touched: it must
  reconnect by itself and count every event exactly once.
- **Graceful shutdown** (whichever broker `kafka_bootstrap` gives): SIGTERM to a
  busy worker (input produced at a steady rate, as above) must end it within
  30 s with exit status 0; started again, it must finish with exact
  per-account counts.

Tests that need Apache Kafka start their own broker in a temporary directory
and are skipped only where `java` or `mvn` is missing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import os
import random
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from distillguard import simulator
from distillguard.streams.admin import ensure_topics
from distillguard.streams.settings import Settings
from distillguard.testing.broker import free_port
from distillguard.testing.consume import read_topic
from distillguard.testing.processes import WorkerProcess
from distillguard.testing.settings import create_topics, unique_settings
from tests.kafka_helpers import (
    broker_description,
    comparable_alerts,
    drained,
    forwarded_events,
    latest_records,
    record_result,
    wait_until,
)

pytestmark = pytest.mark.integration

needs_apache = pytest.mark.skipif(
    shutil.which("java") is None or shutil.which("mvn") is None,
    reason="Apache Kafka needs `java` (JDK 17+) and `mvn` on PATH to resolve and run the broker")

CRASH_SEED = 20_261_123
CRASH_CFG = simulator.SimConfig(seed=31, days=2.0, organic_accounts=40, loud_accounts=1,
                                hydra_accounts=8)
RESTART_CFG = simulator.SimConfig(seed=32, days=1.0, organic_accounts=40, loud_accounts=1,
                                  hydra_accounts=8)
SIGTERM_CFG = simulator.SimConfig(seed=33, days=1.0, organic_accounts=40, loud_accounts=1,
                                  hydra_accounts=8)
KILL_AT = (0.20, 0.45, 0.70)
#: records/s while the workers run: slow enough that the changelog advances in small steps
STEADY_RATE = 250.0

# -- input --------------------------------------------------------------------------------


def build_records(cfg: simulator.SimConfig, redeliver_every: int = 0) -> list[tuple[bytes, bytes]]:
    """(key, value) of the simulated events, keyed by account as a gateway would.

    With `redeliver_every`, every so many events is sent twice in a row (an
    at-least-once gateway); the worker must count it once.
    """
    out: list[tuple[bytes, bytes]] = []
    for i, ev in enumerate(simulator.generate(cfg)):
        record = (ev["account_id"].encode(), orjson.dumps(ev))
        out.append(record)
        if redeliver_every and i and i % redeliver_every == 0:
            out.append(record)
    return out


def distinct_per_account(records: list[tuple[bytes, bytes]]) -> dict[str, int]:
    seen: dict[str, set[str]] = defaultdict(set)
    for _, value in records:
        doc = orjson.loads(value)
        seen[doc["account_id"]].add(doc["event_id"])
    return {account: len(ids) for account, ids in seen.items()}


class BackgroundProducer:
    """Produces records at a steady rate from a thread, through broker outages.

    Idempotent (`enable_idempotence`) with a long delivery timeout, so the
    producer's own retries across a broker restart neither lose nor repeat a
    record: the only thing under test is the worker. The embedded Tansu broker
    answers the idempotent producer's InitProducerId with an unknown error now
    and then (the producer then never starts), so tests that run on it and do
    not restart the broker pass `idempotent=False`.
    """

    def __init__(self, bootstrap: str, topic: str, records: list[tuple[bytes, bytes]],
                 rate: float, idempotent: bool = True) -> None:
        self.bootstrap, self.topic, self.records, self.rate = bootstrap, topic, records, rate
        self.idempotent = idempotent
        self.sent = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="producer", daemon=True)

    def start(self) -> BackgroundProducer:
        self._thread.start()
        return self

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError(f"producer still running after {timeout:.0f}s "
                                 f"({self.sent}/{len(self.records)} sent)")
        if self.error is not None:
            raise AssertionError(f"producer failed: {self.error!r}")

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:  # reported by join()
            self.error = exc

    async def _run(self) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all",
                                    enable_idempotence=self.idempotent, linger_ms=5,
                                    request_timeout_ms=120_000, retry_backoff_ms=250)
        await producer.start()
        try:
            futures = []
            began = time.monotonic()
            for i, (key, value) in enumerate(self.records):
                ahead = began + i / self.rate - time.monotonic()
                if ahead > 0:
                    await asyncio.sleep(ahead)
                futures.append(await producer.send(self.topic, value, key=key))
                self.sent = i + 1
            await asyncio.gather(*futures)
        finally:
            await producer.stop()


# -- watching the worker's progress --------------------------------------------------------


class ChangelogWatcher:
    """Follows `<app-id>-accounts-changelog` from a thread: the latest `n` of every account.

    Reading the whole changelog on every poll would be too slow to time the
    kills; this consumer keeps its position and only reads what is new. It
    survives a broker restart (aiokafka reconnects; errors are retried).
    """

    def __init__(self, settings: Settings) -> None:
        self.bootstrap = settings.bootstrap_servers
        self.topic = f"{settings.app_id}-accounts-changelog"
        self.partitions = settings.partitions
        self.latest: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()),
                                        name="changelog-watcher", daemon=True)

    @property
    def counted(self) -> int:
        with self._lock:
            return sum(self.latest.values())

    def start(self) -> ChangelogWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(15)

    async def _run(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                    auto_offset_reset="earliest", metadata_max_age_ms=1000)
        await consumer.start()
        try:
            tps = [TopicPartition(self.topic, p) for p in range(self.partitions)]
            while not self._stop.is_set():  # the worker creates the topic when it starts
                try:
                    await consumer._client.force_metadata_update()
                except Exception:
                    pass
                if len(consumer.partitions_for_topic(self.topic) or ()) == self.partitions:
                    break
                await asyncio.sleep(0.2)
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            while not self._stop.is_set():
                try:
                    batch = await consumer.getmany(timeout_ms=100)
                except Exception:  # a broker restart: aiokafka reconnects, ask again
                    await asyncio.sleep(0.2)
                    continue
                fresh = {orjson.loads(r.key): orjson.loads(r.value)["n"]
                         for records in batch.values() for r in records if r.value is not None}
                with self._lock:
                    self.latest.update(fresh)
        finally:
            await consumer.stop()


def reached(watcher: ChangelogWatcher, count: int) -> bool:
    return watcher.counted >= count


def wait_finished(settings: Settings, worker: WorkerProcess, watcher: ChangelogWatcher,
                  total: int, timeout: float) -> None:
    """Until the changelog counts `total` events and every partition is read to its end.

    Should events be lost, the count never gets there: the wait then ends once
    the worker has read everything and the count stood still for 15 s, and the
    per-account comparison reports what is missing. The lag gauge is sampled
    every `metrics_interval`, so lag 0 must hold twice, samples apart.
    """
    deadline = time.monotonic() + timeout
    last, still_since = -1, time.monotonic()
    while watcher.counted < total:
        if not worker.alive:
            raise AssertionError(f"the worker died:\n{worker.log()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s: {watcher.counted} of "
                                 f"{total} events counted\n{worker.log()}")
        now, counted = time.monotonic(), watcher.counted
        if counted != last:
            last, still_since = counted, now
        elif now - still_since > 15 and drained(settings):
            break  # nothing more is coming: let the comparison say what is missing
        time.sleep(0.5)
    for _ in range(2):
        wait_until(lambda: drained(settings), max(5.0, deadline - time.monotonic()),
                   "consumer lag 0", worker, every=0.5)
        time.sleep(3 * settings.metrics_interval)


def wait_ready(worker: WorkerProcess, timeout: float = 60.0) -> float:
    """Seconds until a (re)started worker is ready; fails, quoting its log, if it never is.

    A restart must recover the tables from their changelogs; a worker that cannot
    would otherwise sit in recovery until every later wait times out.
    """
    try:
        return worker.wait_ready(timeout)
    except RuntimeError as exc:
        log = worker.log_path.read_text(errors="replace").splitlines()
        errors = [line for line in log if "Error in recovery" in line]
        raise AssertionError(f"{exc} (stuck in table recovery?); {len(errors)} 'Error in "
                             f"recovery' log lines, e.g. {errors[:1]}") from None


def kill(worker: WorkerProcess) -> None:
    """A crash: SIGKILL to the worker's whole process group, no chance to commit or flush."""
    assert worker.proc is not None
    os.killpg(worker.proc.pid, signal.SIGKILL)
    worker.proc.wait(30)


def count_check(expected: dict[str, int], table: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per-account comparison of the changelog's `n` with the distinct events sent."""
    counted = {account: record["n"] for account, record in table.items()}
    lost = {a: expected[a] - counted.get(a, 0) for a in expected
            if counted.get(a, 0) < expected[a]}
    extra = {a: counted.get(a, 0) - expected.get(a, 0) for a in set(counted) | set(expected)
             if counted.get(a, 0) > expected.get(a, 0)}
    return {"sent": sum(expected.values()), "counted": sum(counted.values()),
            "lost": sum(lost.values()), "double_counted": sum(extra.values()),
            "lost_by_account": lost, "extra_by_account": extra}


def trace_lost(settings: Settings, records: list[tuple[bytes, bytes]],
               check: dict[str, Any]) -> dict[str, Any]:
    """Where the lost events went missing: before the internal events topic, or after it.

    For each account with lost events: its distinct events sent, how many of them the
    events topic holds, and (up to 5) ids the events topic lacks. All there: the loss is
    downstream (scoring or the changelog); some absent: ingest's forward never landed
    although its input offset was committed.
    """
    if not check["lost_by_account"]:
        return {}
    sent: dict[str, set[str]] = defaultdict(set)
    for _, value in records:
        doc = orjson.loads(value)
        sent[doc["account_id"]].add(doc["event_id"])
    forwarded: dict[str, set[str]] = defaultdict(set)
    for doc in forwarded_events(read_topic(settings.bootstrap_servers, settings.events_topic)):
        forwarded[doc.get("account_id", "?")].add(doc.get("event_id", "?"))
    return {account: {"sent": len(sent[account]),
                      "in_events_topic": len(sent[account] & forwarded[account]),
                      "absent_from_events_topic": sorted(sent[account] - forwarded[account])[:5]}
            for account in check["lost_by_account"]}


def stop_quietly(*workers: WorkerProcess) -> None:
    for worker in workers:
        if worker.proc is not None and worker.proc.poll() is None:
            try:
                worker.stop(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass


# -- Apache Kafka ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def apache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from deploy.kafka.launch import KafkaBroker

    with KafkaBroker(tmp_path_factory.mktemp("reliability-kafka")) as kafka:
        yield kafka


# -- 1a: crash recovery ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def crash_run(apache: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A crash-free reference worker and a worker SIGKILLed three times, on the same input."""
    tmp = tmp_path_factory.mktemp("crash")
    bootstrap = apache.bootstrap_servers
    records = build_records(CRASH_CFG, redeliver_every=150)
    expected = distinct_per_account(records)
    total = sum(expected.values())
    settings = unique_settings(bootstrap, tmp / "data", partitions=2, warmup=10**9)
    reference = dataclasses.replace(
        settings, app_id=f"{settings.app_id}-ref", alerts_topic=f"{settings.alerts_topic}-ref",
        dlq_topic=f"{settings.dlq_topic}-ref", web_port=free_port(), data_dir=str(tmp / "ref"))
    create_topics(settings, input_partitions=2)
    asyncio.run(ensure_topics(bootstrap, {reference.alerts_topic: 1, reference.dlq_topic: 1}))

    rng = random.Random(CRASH_SEED)
    crashed = WorkerProcess(settings, tmp / "worker.log")
    clean = WorkerProcess(reference, tmp / "reference.log")
    watcher = ChangelogWatcher(settings).start()
    ref_watcher = ChangelogWatcher(reference)
    producer = BackgroundProducer(bootstrap, settings.input_topic, records, rate=STEADY_RATE)
    kills: list[dict[str, Any]] = []
    try:
        clean.start()  # the reference runs alongside, in its own consumer group
        ref_watcher.start()
        crashed.start()
        wait_ready(clean)
        wait_ready(crashed)
        began = time.monotonic()
        producer.start()
        for fraction in KILL_AT:
            target = int((fraction + rng.uniform(-0.05, 0.05)) * total)
            wait_until(functools.partial(reached, watcher, target), 180,
                       f"{target} events in the changelog before kill {len(kills) + 1}", crashed,
                       every=0.05)
            time.sleep(rng.uniform(0.0, 0.3))
            at = watcher.counted
            kill(crashed)
            kills.append({"target": target, "counted_at_kill": at,
                          "fraction": round(at / total, 3),
                          "seconds": round(time.monotonic() - began, 1)})
            time.sleep(rng.uniform(0.0, 1.0))
            crashed.start()
            kills[-1]["ready_after_s"] = round(wait_ready(crashed), 1)
        producer.join(timeout=120)
        produced_s = time.monotonic() - began
        wait_finished(settings, crashed, watcher, total, timeout=240)
        crashed_s = time.monotonic() - began
        alive_after = crashed.alive
        wait_finished(reference, clean, ref_watcher, total, timeout=120)
        return {
            "settings": settings, "reference_settings": reference, "expected": expected,
            "records": len(records), "record_list": records, "kills": kills,
            "alive_after": alive_after,
            "table": latest_records(settings), "reference_table": latest_records(reference),
            "alerts": [orjson.loads(r.value) for r in read_topic(bootstrap, settings.alerts_topic)],
            "reference_alerts": [orjson.loads(r.value)
                                 for r in read_topic(bootstrap, reference.alerts_topic)],
            "seconds": {"produce": round(produced_s, 1), "crashed_run": round(crashed_s, 1)},
            "log": crashed.log_path, "kafka_version": apache.version,
        }
    finally:
        watcher.stop()
        ref_watcher.stop()
        stop_quietly(crashed, clean)


@needs_apache
def test_crash_recovery_counts_every_event_once(crash_run: dict[str, Any]) -> None:
    check = count_check(crash_run["expected"], crash_run["table"])
    reference = count_check(crash_run["expected"], crash_run["reference_table"])
    kills = crash_run["kills"]
    survived = len(kills) if crash_run["alive_after"] else len(kills) - 1
    print(f"\nRELIABILITY crash recovery: kills survived {survived}/{len(kills)}, events sent "
          f"{check['sent']} distinct ({crash_run['records']} records), counted "
          f"{check['counted']}, lost {check['lost']}, double-counted {check['double_counted']} "
          f"(kills at {[k['fraction'] for k in kills]} of the events, ready again after "
          f"{[k['ready_after_s'] for k in kills]} s; reference run counted "
          f"{reference['counted']}; {crash_run['seconds']})")
    record_result("reliability", "crash_recovery", {
        "broker": f"Apache Kafka {crash_run['kafka_version']}", "partitions": 2,
        "kills": len(kills), "kills_survived": survived, "records_sent": crash_run["records"],
        "events_sent_distinct": check["sent"], "events_counted": check["counted"],
        "lost": check["lost"], "double_counted": check["double_counted"],
        "lost_by_account": check["lost_by_account"],
        "double_counted_by_account": check["extra_by_account"],
        "reference_events_counted": reference["counted"], "kill_points": kills,
        "seconds": crash_run["seconds"],
        "lost_trace": trace_lost(crash_run["settings"], crash_run["record_list"], check)})
    assert len(crash_run["kills"]) >= 3
    assert all(k["counted_at_kill"] < check["sent"] for k in kills), (
        f"a kill came after every event was counted, so it tested no recovery: {kills}")
    assert crash_run["alive_after"], "the restarted worker died"
    assert reference["lost"] == reference["double_counted"] == 0, reference
    assert set(crash_run["table"]) == set(crash_run["expected"])
    assert check["lost"] == 0 and check["double_counted"] == 0, (
        f"after {len(crash_run['kills'])} crashes: lost {check['lost_by_account']}, "
        f"counted twice {check['extra_by_account']}")


def named_members(alerts: list[dict[str, Any]]) -> set[str]:
    """Accounts the campaign graph names: in campaign alerts and member alerts."""
    return {a for alert in comparable_alerts(alerts, "campaign") for a in alert["accounts"]} | {
        alert["subject"] for alert in comparable_alerts(alerts, "member")}


@needs_apache
def test_crash_recovery_keeps_every_account_alert(crash_run: dict[str, Any]) -> None:
    """An account's own alerts, computed from its recovered record, keep their ids exactly.

    Member alerts are compared by the accounts they name: their id hashes the campaign's
    episode start and severity when the member joined, which depend on which fingerprint
    partition's link reaches the graph first (see `campaign_view`), in a crash-free run too.
    """
    want = Counter(a["alert_id"] for a in comparable_alerts(crash_run["reference_alerts"],
                                                             "account"))
    got = Counter(a["alert_id"] for a in comparable_alerts(crash_run["alerts"], "account"))
    missing = sorted(set(want) - set(got))
    unexpected = sorted(set(got) - set(want))
    repeats = sum(n - 1 for n in got.values() if n > 1)
    want_members = {a["subject"] for a in comparable_alerts(crash_run["reference_alerts"],
                                                            "member")}
    got_members = {a["subject"] for a in comparable_alerts(crash_run["alerts"], "member")}
    members_lost = sorted(want_members - named_members(crash_run["alerts"]))
    members_added = sorted(got_members - named_members(crash_run["reference_alerts"]))
    print(f"\nRELIABILITY crash recovery: account alerts: reference {len(want)}, crashed run "
          f"{len(set(got))} distinct ({repeats} repeats), missing {len(missing)}, "
          f"unexpected {len(unexpected)}; members named by member alerts: reference "
          f"{len(want_members)}, crashed run {len(got_members)}, not named in the other run "
          f"{len(members_lost)} / {len(members_added)}")
    record_result("reliability", "crash_recovery_account_alerts", {
        "reference": len(want), "crashed_run_distinct": len(set(got)), "repeats": repeats,
        "missing": missing, "unexpected": unexpected, "member_alert_accounts":
        {"reference": len(want_members), "crashed_run": len(got_members),
         "lost": members_lost, "added": members_added}})
    assert want, "the reference run sent no account alert: the comparison proves nothing"
    assert not missing, f"account alerts lost across crashes: {missing}"
    assert not unexpected, f"account alerts only the crashed run sent: {unexpected}"
    assert not members_lost, f"members the crashed run never named: {members_lost}"
    assert not members_added, f"members only the crashed run named: {members_added}"


def campaign_view(alerts: list[dict[str, Any]]) -> set[tuple[str, frozenset[str]]]:
    """Campaign alerts as (severity, member accounts).

    Not by id, nor by exact members: a campaign's id hashes the first
    fingerprint key that linked it, and which of several keys' links reaches
    the links topic first, so also which five members its first alert names,
    depends on timing across fingerprint partitions, in a crash-free run too.
    What must survive a crash is an alert at the same severity about the same
    campaign; campaigns of one run never share an account, so sharing one
    identifies it.
    """
    return {(a["severity"], frozenset(a["accounts"])) for a in alerts if a["kind"] == "campaign"}


def unmatched(want: set[tuple[str, frozenset[str]]],
              got: set[tuple[str, frozenset[str]]]) -> list[tuple[str, list[str]]]:
    """Alerts of `want` with no alert in `got` at the same severity about the same campaign."""
    return [(sev, sorted(members)) for sev, members in want
            if not any(s == sev and members & m for s, m in got)]


@needs_apache
def test_crash_recovery_keeps_campaign_alerts(crash_run: dict[str, Any]) -> None:
    want = campaign_view(crash_run["reference_alerts"])
    got = campaign_view(crash_run["alerts"])
    print(f"\nRELIABILITY crash recovery: campaign alerts (severity, members): reference "
          f"{sorted((s, len(m)) for s, m in want)}, crashed run "
          f"{sorted((s, len(m)) for s, m in got)}")
    record_result("reliability", "crash_recovery_campaign_alerts", {
        "reference": sorted((s, sorted(m)) for s, m in want),
        "crashed_run": sorted((s, sorted(m)) for s, m in got)})
    assert want, "the reference run sent no campaign alert: the comparison proves nothing"
    assert not unmatched(want, got), f"campaign alerts lost across crashes: {unmatched(want, got)}"
    assert not unmatched(got, want), f"alerts only the crashed run sent: {unmatched(got, want)}"


# -- 1b: broker restart ---------------------------------------------------------------------


@needs_apache
def test_worker_rides_out_a_broker_restart(apache: Any, tmp_path: Path) -> None:
    bootstrap = apache.bootstrap_servers
    records = build_records(RESTART_CFG)
    expected = distinct_per_account(records)
    total = sum(expected.values())
    settings = unique_settings(bootstrap, tmp_path / "data", partitions=2)
    create_topics(settings, input_partitions=2)
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    watcher = ChangelogWatcher(settings)
    producer = BackgroundProducer(bootstrap, settings.input_topic, records, rate=1000.0)
    try:
        worker.start()
        producer.start()
        watcher.start()
        target = int(0.4 * total)
        wait_until(lambda: watcher.counted >= target, 120, f"{target} events counted", worker,
                   every=0.05)
        pid = worker.proc.pid if worker.proc else None
        at = watcher.counted
        began = time.monotonic()
        apache.stop()  # clean shutdown (SIGTERM) of the broker, mid-stream
        down_at = time.monotonic()
        time.sleep(2.0)
        apache.start()
        outage = time.monotonic() - down_at
        restart_s = time.monotonic() - began
        producer.join(timeout=120)
        wait_finished(settings, worker, watcher, total, timeout=180)
        check = count_check(expected, latest_records(settings))
        same_worker = worker.alive and worker.proc is not None and worker.proc.pid == pid
        print(f"\nRELIABILITY broker restart: events sent {check['sent']}, counted "
              f"{check['counted']}, lost {check['lost']}, double-counted "
              f"{check['double_counted']} (restart at {at}/{total} events counted, "
              f"{outage:.1f}s unreachable, stop+start {restart_s:.1f}s; same worker process "
              f"throughout: {same_worker})")
        record_result("reliability", "broker_restart", {
            "broker": f"Apache Kafka {apache.version}", "partitions": 2,
            "events_sent": check["sent"], "events_counted": check["counted"],
            "lost": check["lost"], "double_counted": check["double_counted"],
            "counted_at_restart": at, "unreachable_s": round(outage, 1),
            "stop_start_s": round(restart_s, 1), "same_worker_process": same_worker,
            "lost_by_account": check["lost_by_account"],
            "lost_trace": trace_lost(settings, records, check)})
        assert same_worker, "the worker was restarted or died"
        assert check["lost"] == 0 and check["double_counted"] == 0, check
    finally:
        watcher.stop()
        stop_quietly(worker)
        if not apache.running:
            apache.start()


# -- 1c: graceful shutdown ------------------------------------------------------------------


def test_sigterm_stops_a_busy_worker_cleanly(kafka_bootstrap: str, tmp_path: Path) -> None:
    records = build_records(SIGTERM_CFG, redeliver_every=150)
    expected = distinct_per_account(records)
    total = sum(expected.values())
    settings = unique_settings(kafka_bootstrap, tmp_path / "data", partitions=2)
    create_topics(settings, input_partitions=2)
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    watcher = ChangelogWatcher(settings).start()
    producer = BackgroundProducer(kafka_bootstrap, settings.input_topic, records,
                                  rate=STEADY_RATE, idempotent=False)
    try:
        worker.start()
        wait_ready(worker)
        producer.start()
        target = int(0.4 * total)
        wait_until(lambda: watcher.counted >= target, 120, f"{target} events counted", worker,
                   every=0.05)
        at = watcher.counted
        assert worker.proc is not None
        began = time.monotonic()
        os.killpg(worker.proc.pid, signal.SIGTERM)
        try:
            status: int | None = worker.proc.wait(30)
        except subprocess.TimeoutExpired:
            status = None
        took = time.monotonic() - began
        log = worker.log()
        if status is None:  # hung: kill it so the test can end, and say so
            os.killpg(worker.proc.pid, signal.SIGKILL)
            worker.proc.wait()
        print(f"\nRELIABILITY SIGTERM: exit code {status} after {took:.1f}s "
              f"(sent at {at}/{total} events counted)")
        figures: dict[str, Any] = {"broker": broker_description(), "partitions": 2,
                                   "exit_code": status, "seconds_to_exit": round(took, 1),
                                   "counted_at_sigterm": at}
        if status != 0:
            record_result("reliability", "sigterm", figures)
        assert at < total, "SIGTERM came after every event was counted: not a busy worker"
        assert status is not None, f"the worker ignored SIGTERM for 30 s:\n{log}"
        assert status == 0, f"exit status {status} after SIGTERM:\n{log}"
        worker.start()
        wait_ready(worker)
        producer.join(timeout=120)
        wait_finished(settings, worker, watcher, total, timeout=180)
        check = count_check(expected, latest_records(settings))
        print(f"RELIABILITY SIGTERM, restarted: events sent {check['sent']}, counted "
              f"{check['counted']}, lost {check['lost']}, double-counted "
              f"{check['double_counted']}")
        record_result("reliability", "sigterm", {
            **figures, "events_sent": check["sent"], "events_counted_after_restart":
            check["counted"], "lost": check["lost"], "double_counted": check["double_counted"],
            "lost_by_account": check["lost_by_account"],
            "double_counted_by_account": check["extra_by_account"],
            "lost_trace": trace_lost(settings, records, check)})
        assert check["lost"] == 0 and check["double_counted"] == 0, (
            check, trace_lost(settings, records, check))
    finally:
        watcher.stop()
        stop_quietly(worker)
