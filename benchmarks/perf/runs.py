"""The steps of a throughput run, in the order `benchmarks/throughput.py` runs them.

Each step adds its section to `Context.result`, which the report (`perf.report`) reads.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distillguard.streams.admin import TopicSpec, ensure_topics
from distillguard.streams.settings import Settings
from distillguard.testing.metrics import total
from distillguard.testing.processes import WorkerProcess
from distillguard.testing.settings import create_topics

from perf.common import progress, uid
from perf.data import (
    changelog_sizes,
    latency_events,
    produce_timed,
    simulated,
    topic_traffic,
)
from perf.latency import paced_latency
from perf.memory import million
from perf.pyspy import profile_worker
from perf.system import Busy, wait_quiet
from perf.transport import bare_faust, in_process, quix_peer, raw_aiokafka
from perf.workers import (
    EXTRA_WORKER_ENV,
    bench_settings,
    log_summary,
    measure_workers,
    scale_ratios,
    start_worker,
)


@dataclass
class Context:
    """What every step needs: the broker, a work directory, the input's partitions, the result."""

    bootstrap: str
    work: Path
    partitions: int
    broker_pid: int | None
    wait_quiet_s: float
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def cpu_base(self) -> dict[str, int | None]:
        """Processes whose CPU every measurement reports besides the workers'."""
        return {"broker": self.broker_pid} if self.broker_pid else {}

    def quiet(self, step: str) -> None:
        """Before `step`, wait for other users' load to drop (see `wait_quiet`)."""
        if self.wait_quiet_s > 0:
            self.result.setdefault("quiet_checks", {})[step] = wait_quiet(self.wait_quiet_s)


def inputs(ctx: Context, n: int) -> tuple[list[tuple[bytes, bytes]], str]:
    """1. Simulate `n` events and produce them to a fresh input topic; (events, topic)."""
    progress(f"1. simulating {n:,} events")
    events, ctx.result["data"] = simulated(n)
    ctx.result["data"]["events"] = n
    topic = f"bench-input-{uid()}"
    # retention set explicitly: Quix Streams (f) derives its changelog's retention from the
    # input topic's and fails on a broker (the embedded Tansu) that reports none by default
    spec = TopicSpec(ctx.partitions, config={"retention.ms": "-1"})
    asyncio.run(ensure_topics(ctx.bootstrap, {topic: spec}))
    ctx.result["produce"] = asyncio.run(produce_timed(ctx.bootstrap, topic, events, n, "input"))
    return events, topic


def throughput(ctx: Context, events: list[tuple[bytes, bytes]], topic: str,
               skip_inprocess: bool) -> Settings:
    """2. (a)-(f) on the same input; returns the settings of (c)'s worker (for step 4a)."""
    n, parts = len(events), ctx.partitions
    thr: dict[str, Any] = {}
    ctx.result["throughput"] = thr
    ctx.quiet("a")
    progress("2a. raw aiokafka consumer")
    with Busy() as busy:
        thr["a_raw"] = asyncio.run(raw_aiokafka(ctx.bootstrap, topic, n))
    thr["a_raw"]["machine_busy_percent"] = busy.percent
    progress(f"2a. {thr['a_raw']['events_per_s']:,.0f} ev/s")
    ctx.quiet("b")
    progress("2b. bare Faust agent")
    with Busy() as busy:
        thr["b_faust"] = bare_faust(ctx.bootstrap, topic, n, parts, ctx.work)
    thr["b_faust"]["machine_busy_percent"] = busy.percent
    progress(f"2b. {thr['b_faust']['events_per_s']:,.0f} ev/s")
    ctx.quiet("c")
    progress("2c. full worker")
    sc = bench_settings(ctx.bootstrap, ctx.work, topic, parts, "c")
    create_topics(sc, parts)
    w = start_worker(sc, ctx.work, "c")
    try:
        thr["c_worker"] = measure_workers([w], n, "(c) worker", {"worker": w.pid} | ctx.cpu_base)
        thr["c_worker"]["rss_mib"] = (w.rss_kib() or 0) / 1024
        thr["c_worker"]["alerts"] = total(w.metrics(), "distillguard_alerts_total")
    finally:
        w.stop()
    thr["c_worker"]["traffic"] = asyncio.run(topic_traffic(ctx.bootstrap, {
        "accounts changelog": f"{sc.app_id}-accounts-changelog",
        "fingerprints changelog": f"{sc.app_id}-fingerprints-changelog",
        "ticks (fingerprints topic)": f"{sc.app_id}-fingerprints",
        "forwarded events": sc.events_topic,
        "links": f"{sc.app_id}-links",
        "alerts": sc.alerts_topic}, n))
    c_rate = thr["c_worker"]["events_per_s"]
    steady = thr["c_worker"]["steady_events_per_s"] or 0.0
    progress(f"2c. {c_rate:,.0f} ev/s (steady 5-95%: {steady:,.0f})")
    thr["c_over_a"] = c_rate / thr["a_raw"]["events_per_s"]
    thr["c_over_b"] = c_rate / thr["b_faust"]["events_per_s"]
    if not skip_inprocess:
        ctx.quiet("d")
        progress("2d. detector alone, in this process")
        with Busy() as busy:
            thr["d_inprocess"] = in_process(events)
        thr["d_inprocess"]["machine_busy_percent"] = busy.percent
        progress(f"2d. {thr['d_inprocess']['events_per_s']:,.0f} ev/s")
        thr["c_over_d"] = c_rate / thr["d_inprocess"]["events_per_s"]
    ctx.quiet("e")
    progress("2e. floor: the worker's batch consumer, parse + one table write per account")
    with Busy() as busy:
        thr["e_floor"] = bare_faust(ctx.bootstrap, topic, n, parts, ctx.work, floor=True)
    thr["e_floor"]["machine_busy_percent"] = busy.percent
    progress(f"2e. {thr['e_floor']['events_per_s']:,.0f} ev/s")
    thr["c_over_e"] = c_rate / thr["e_floor"]["events_per_s"]
    ctx.quiet("f")
    progress("2f. the Quix Streams peer: a counter, a rate and a rolling mean per account")
    with Busy() as busy:
        thr["f_quix"] = quix_peer(ctx.bootstrap, topic, n, ctx.work)
    thr["f_quix"]["machine_busy_percent"] = busy.percent
    progress(f"2f. {thr['f_quix']['events_per_s']:,.0f} ev/s")
    thr["c_over_f"] = c_rate / thr["f_quix"]["events_per_s"]
    print(f"(a) raw aiokafka {thr['a_raw']['events_per_s']:,.0f} ev/s | (b) bare Faust "
          f"{thr['b_faust']['events_per_s']:,.0f} ev/s | (c) worker {c_rate:,.0f} ev/s | "
          f"c/a {thr['c_over_a']:.3f} | c/b {thr['c_over_b']:.3f}", flush=True)
    return sc


def table_state(ctx: Context, sc: Settings) -> None:
    """4a. Table state per account, from run (c)'s accounts changelog."""
    progress("4a. reading run (c)'s accounts changelog")
    ctx.result["memory"] = {"changelog": asyncio.run(
        changelog_sizes(ctx.bootstrap, f"{sc.app_id}-accounts-changelog"))}


def latency(ctx: Context, seconds: float) -> None:
    """3. Latency at half of (c)'s rate, on a worker of its own."""
    ctx.quiet("latency")
    progress("3. latency at 0.5 x (c)")
    rate = 0.5 * ctx.result["throughput"]["c_worker"]["events_per_s"]
    lat_topic = f"bench-latency-{uid()}"
    sl = bench_settings(ctx.bootstrap, ctx.work, lat_topic, ctx.partitions, "latency")
    create_topics(sl, ctx.partitions)
    lat_events = latency_events(int(rate * seconds * 1.05) + 1000)
    w = start_worker(sl, ctx.work, "latency")
    try:
        waited = w.wait_ready()
        progress(f"latency worker ready after {waited:.1f}s")
        time.sleep(2)
        with Busy() as busy:
            ctx.result["latency"] = asyncio.run(paced_latency(ctx.bootstrap, sl, rate, seconds,
                                                              lat_events))
        ctx.result["latency"]["machine_busy_percent"] = busy.percent
        ctx.result["latency"]["log_warnings"] = log_summary(w.log_path)
        if not w.alive:
            raise RuntimeError(f"latency worker exited:\n{w.log(3000)}")
    finally:
        w.stop()


def scale_out(ctx: Context, events: list[tuple[bytes, bytes]], topic: str) -> None:
    """5. Two workers in one group against one, on the same input (4 partitions at least)."""
    n, scale_topic = len(events), topic
    if ctx.partitions < 4:
        scale_topic = f"bench-input4-{uid()}"
        asyncio.run(ensure_topics(ctx.bootstrap, {scale_topic: 4}))
        asyncio.run(produce_timed(ctx.bootstrap, scale_topic, events, n, "scale-out input"))
    out: dict[str, Any] = {}
    ctx.result["scale_out"] = out
    replicas = EXTRA_WORKER_ENV.get("DISTILLGUARD_STANDBY_REPLICAS",
                                    str(Settings().standby_replicas))
    runs: list[tuple[int, str, int | None]] = [(1, "one", None), (2, "two", None)]
    # what the standby copies cost, measured; not when --worker-env sets them, as
    # that environment would override the run's own setting
    if replicas != "0" and "DISTILLGUARD_STANDBY_REPLICAS" not in EXTRA_WORKER_ENV:
        runs.append((2, "two_no_standby", 0))
    for k, label, standby in runs:
        ctx.quiet(f"scale-{label}")
        what = f"{k} worker(s)" + (" without standby replicas" if standby == 0 else "")
        progress(f"5. scale-out: {what}")
        app_id = f"bench-scale-{label.replace('_', '-')}-{uid()}"
        ws: list[WorkerProcess] = []
        try:
            for i in range(k):
                s = bench_settings(ctx.bootstrap, ctx.work, scale_topic, 4, f"scale{k}",
                                   app_id=app_id)
                if standby is not None:
                    s = dataclasses.replace(s, standby_replicas=standby)
                create_topics(s, 4)
                ws.append(start_worker(s, ctx.work, f"scale-{label}-{i}"))
            pids = {f"worker{i + 1}": wk.pid for i, wk in enumerate(ws)} | ctx.cpu_base
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


def million_accounts(ctx: Context, accounts: int, per_account: int, budget: float) -> None:
    """4b. A worker's memory with `accounts` tracked accounts, within `budget` s."""
    ctx.quiet("million")
    progress(f"4b. {accounts:,} accounts x {per_account} events")
    ctx.result["memory"]["million"] = million(ctx.bootstrap, ctx.work, ctx.partitions,
                                              accounts, per_account, ctx.broker_pid, budget)


def profile(ctx: Context, topic: str, py_spy: str | None, seconds: float) -> None:
    """6. A py-spy profile of a worker, if py-spy is found; else why it is missing."""
    spy = py_spy or shutil.which("py-spy") or shutil.which(
        "py-spy", path=str(Path(sys.executable).parent))
    if not spy:
        ctx.result["profile_skipped"] = "skipped: py-spy not found (pip install py-spy)"
        return
    ctx.quiet("profile")
    progress("6. py-spy profile of the worker")
    try:
        ctx.result["profile"] = profile_worker(spy, ctx.bootstrap, ctx.work, topic,
                                               ctx.partitions, seconds)
    except Exception as exc:  # a profile is a bonus: report why it is missing
        ctx.result["profile_skipped"] = f"failed: {type(exc).__name__}: {exc}"[:500]
