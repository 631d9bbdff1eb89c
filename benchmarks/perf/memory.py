"""Step 4b: a worker's memory with a million tracked accounts, and rebuilding its tables."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path
from typing import Any

from distillguard.streams.settings import Settings
from distillguard.testing.metrics import total
from distillguard.testing.processes import proc_status_kib
from distillguard.testing.settings import create_topics

from perf.common import progress, uid
from perf.data import changelog_sizes, million_events, produce_timed
from perf.system import meminfo, vmstat
from perf.workers import bench_settings, measure_workers, start_worker


def million(bootstrap: str, work: Path, partitions: int, accounts: int, per_account: int,
            broker_pid: int | None, budget: float) -> dict[str, Any]:
    """RSS of a worker tracking `accounts` accounts (fingerprint-only events), within `budget` s.

    Also the changelog's record size and the time a fresh worker takes to rebuild the tables.
    """
    n_events = accounts * per_account
    topic = f"bench-million-{uid()}"
    s = bench_settings(bootstrap, work, topic, partitions, "million")
    create_topics(s, partitions)
    swap_out_before = vmstat("pswpout")
    prod = asyncio.run(produce_timed(bootstrap, topic, million_events(accounts, per_account),
                                     n_events, "1M accounts"))
    low_avail = [meminfo()["MemAvailable"]]
    peak_rss = [0]
    rss_start: list[int | None] = [None]
    last_rss_report = [time.monotonic()]
    w = start_worker(s, work, "million")
    try:
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

        cpu_pids = {"worker": w.pid} | ({"broker": broker_pid} if broker_pid else {})
        run = measure_workers([w], n_events, "1M accounts", cpu_pids, poll=1.0, stall=120.0,
                              budget=budget, on_sample=sample_memory)
        time.sleep(2 * s.metrics_interval + 1)  # let the tracked-accounts gauge refresh
        m = w.metrics()
        info = meminfo()
        tracked = total(m, "distillguard_tracked_accounts")
        result: dict[str, Any] = {
            "accounts": accounts, "events_per_account": per_account, "events": n_events,
            "complete": run["final_count"] >= n_events, "budget_s": budget,
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
    w = start_worker(fresh, work, "million-restart")
    try:
        seconds = w.wait_ready(timeout)
        return {"ready_after_s": seconds, "rss_mib": (w.rss_kib() or 0) / 1024}
    finally:
        w.stop()
