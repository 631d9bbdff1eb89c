"""Benchmark workers: settings, start, their event counters, and rates measured from them."""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from distillguard.streams.settings import Settings
from distillguard.testing.metrics import total
from distillguard.testing.processes import WorkerProcess, cpu_seconds
from distillguard.testing.settings import unique_settings

from perf.common import progress, uid
from perf.system import machine_busy_seconds

EVENTS_METRIC = "distillguard_events_processed_total"
#: extra environment for every worker (--worker-env), e.g. Faust's own PRODUCER_LINGER
EXTRA_WORKER_ENV: dict[str, str] = {}


def bench_settings(bootstrap: str, work: Path, input_topic: str, partitions: int, tag: str,
                   app_id: str | None = None) -> Settings:
    """Settings of a fresh worker on `input_topic`: its own side topics, web port, data dir.

    Its own group too, unless `app_id` names one several workers share.
    """
    over: dict[str, Any] = {"app_id": app_id} if app_id else {}
    return unique_settings(bootstrap, work / f"data-{tag}-{uid()}", prefix=f"bench-{tag}",
                           input_topic=input_topic, partitions=partitions, log_level="warn",
                           **over)


def start_worker(settings: Settings, work: Path, name: str) -> WorkerProcess:
    """A started worker of `settings` with `EXTRA_WORKER_ENV`, logging into `work`."""
    return WorkerProcess(settings, work / f"{name}-{settings.web_port}.log",
                         extra_env=dict(EXTRA_WORKER_ENV), cwd=work).start()


def events_counted(worker: WorkerProcess) -> float:
    """The worker's events processed, every outcome (0 while its web server is down)."""
    return total(worker.metrics(), EVENTS_METRIC) or 0.0


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


def measure_workers(workers: list[WorkerProcess], target: int, label: str,
                    cpu_pids: dict[str, int | None], poll: float = 0.5, stall: float = 60.0,
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
                raise RuntimeError(f"{label}: worker {w.pid} exited:\n{w.log(3000)}")
            counts.append(events_counted(w))
        cpus = {name: cpu_seconds(pid) for name, pid in cpu_pids.items()}
        cpus["this script"] = cpu_seconds(os.getpid())
        cpus["whole machine"] = machine_busy_seconds()
        samples.append((now, counts, cpus))
        count = sum(counts)
        if on_sample is not None:
            on_sample(count)
        if count > last_total:
            last_progress, last_total = now, count
        if now - last_report >= 10.0:
            recent = ""
            if len(samples) > 20:
                t_old, c_old, _ = samples[-21]
                recent = f", {(count - sum(c_old)) / (now - t_old):,.0f} ev/s now"
            progress(f"{label}: {count:,.0f}/{target:,} events{recent}")
            last_report = now
        if count >= target:
            break
        if count == 0 and now - started > startup_timeout:
            raise RuntimeError(f"{label}: nothing processed after {startup_timeout:.0f}s:\n"
                               f"{workers[0].log(3000)}")
        if count > 0 and now - last_progress > stall:
            progress(f"{label}: no progress for {stall:.0f}s at {count:,.0f}/{target:,}; stopping")
            break
        if budget is not None and now - started > budget:
            progress(f"{label}: time budget of {budget:.0f}s spent at {count:,.0f}/{target:,}")
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
