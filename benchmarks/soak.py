"""Soak: a worker under steady simulated traffic for minutes; is its memory and lag bounded?

Steps:

1. Start a broker (the embedded Tansu broker, unless `--bootstrap` names one).
2. Measure the maximum rate (unless `--rate` is given): a worker on topics of
   its own is flooded for `--measure-seconds` as fast as one producer can
   send, and the rate of `distillguard_ingest_records_total{result="accepted"}`
   over the second half of that window is the maximum. The end-to-end rate
   (`distillguard_events_processed_total`, every outcome) is reported too;
   the lower of the two is the worker's maximum. That worker is
   then stopped and its topics left alone.
3. Soak: a fresh worker, traffic at `--rate` events/s (default half the
   lower measured maximum) for `--minutes`, and every `--sample-seconds` the
   worker's RSS (`VmRSS` of /proc/<pid>/status), the summed consumer lag
   (`distillguard_consumer_lag_messages`, sampled by the worker every
   `metrics_interval` = 5 s here) and the accepted counter.
4. Verdict: memory is bounded if RSS grew by less than 10% over the last half
   of the run; lag is bounded if its least-squares slope over the last half
   is under 1% of the input rate or the final lag is under 5 s of traffic.
   Then traffic stops and the worker must drain (every record accepted).

Traffic: one `distillguard.simulator` scenario day (a fixed account population)
repeated day after day with event time moving forward and fresh event ids,
so the population stays bounded: growth in RSS is then a leak or an
unbounded structure, not new accounts. (With `--fresh-accounts` every day
is a new seed with new accounts instead, and the tables grow by design.)

Usage: python benchmarks/soak.py [--minutes 10] [--rate N] [--bootstrap HOST:PORT]
Writes benchmarks/results/soak.md and soak.json (`--out DIR` elsewhere); the worker,
settings and metrics come from `distillguard.testing`. Figures: benchmarks/results/soak.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

from distillguard import simulator
from distillguard.models.events import DAY
from distillguard.testing.broker import EmbeddedBroker
from distillguard.testing.metrics import total
from distillguard.testing.processes import WorkerProcess, proc_status_kib
from distillguard.testing.produce import make_producer
from distillguard.testing.settings import create_topics, unique_settings

from perf.common import add_bootstrap_argument, add_results_argument

#: one simulated day of a mid-sized tenant: a loud harvester and a quiet campaign among
#: organic accounts
SCENARIO = simulator.SimConfig(seed=5, days=1.0, organic_accounts=300, loud_accounts=2,
                               hydra_accounts=30)


# -- traffic ------------------------------------------------------------------------------


def traffic(cfg: simulator.SimConfig, fresh_accounts: bool = False) -> Iterator[dict[str, Any]]:
    """Endless events, event time moving forward one scenario length per round."""
    day = [] if fresh_accounts else list(simulator.generate(cfg))
    span = cfg.days * DAY
    round_ = 0
    while True:
        if fresh_accounts:
            yield from simulator.generate(replace(cfg, seed=cfg.seed + round_,
                                                  start_ts=cfg.start_ts + round_ * span))
        else:
            shift = round_ * span
            for ev in day:
                yield {**ev, "ts": round(ev["ts"] + shift, 3),
                       "event_id": f"{ev['event_id']}-{round_}"}
        round_ += 1


class Producer:
    """Produces `traffic` from a thread at a target rate (None: as fast as it can)."""

    def __init__(self, bootstrap: str, topic: str, events: Iterator[dict[str, Any]],
                 rate: float | None) -> None:
        self.bootstrap, self.topic, self.events, self.rate = bootstrap, topic, events, rate
        self.sent = 0
        #: in flood mode, send no further than this (the caller raises it as the worker reads),
        #: so the broker does not have to hold minutes of backlog
        self.ceiling = 50_000
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="producer", daemon=True)

    def start(self) -> Producer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:
            self.error = exc

    async def _run(self) -> None:
        producer = make_producer(self.bootstrap, acks=1, linger_ms=20, max_batch_size=512 << 10)
        await producer.start()
        try:
            began = time.monotonic()
            tick = 0.05
            pending: list[asyncio.Future[Any]] = []
            while not self._stop.is_set():
                if self.rate is None:
                    quota = min(2000, self.ceiling - self.sent)
                    if quota <= 0:
                        await asyncio.sleep(tick)
                        continue
                else:
                    due = int((time.monotonic() - began) * self.rate) - self.sent
                    if due <= 0:
                        await asyncio.sleep(tick)
                        continue
                    quota = due
                for _ in range(quota):
                    ev = next(self.events)
                    pending.append(await producer.send(
                        self.topic, orjson.dumps(ev), key=ev["account_id"].encode()))
                self.sent += quota
                if len(pending) > 20_000:  # bound what is in flight; errors surface here
                    await asyncio.gather(*pending)
                    pending.clear()
            await asyncio.gather(*pending)
        finally:
            await producer.stop()


# -- the worker -----------------------------------------------------------------------------


def rss_mib(pid: int | None) -> float | None:
    """Resident memory of a process, MiB; None if it is not running."""
    kib = proc_status_kib(pid, "VmRSS")
    return None if kib is None else kib / 1024


def accepted(m: dict[str, float]) -> float:
    """Records ingest accepted (valid events), from a worker's samples."""
    return total(m, "distillguard_ingest_records_total", result="accepted") or 0.0


def processed(m: dict[str, float]) -> float:
    """Events through scoring, every outcome."""
    return total(m, "distillguard_events_processed_total") or 0.0


def lag(m: dict[str, float], topic: str | None = None) -> float | None:
    """Summed consumer lag, of every stream topic or of one; None before the first sample."""
    return total(m, "distillguard_consumer_lag_messages", **({"topic": topic} if topic else {}))


def start_worker(bootstrap: str, workdir: Path, name: str, partitions: int) -> WorkerProcess:
    """A ready worker on topics of its own, sampling its metrics every 5 s."""
    settings = unique_settings(bootstrap, workdir / name, prefix="soak", partitions=partitions,
                               metrics_interval=5.0, log_level="warn")
    create_topics(settings, partitions)
    worker = WorkerProcess(settings, workdir / f"{name}.log").start()
    worker.wait_ready()
    return worker


# -- phases --------------------------------------------------------------------------------


def measure_max(bootstrap: str, workdir: Path, seconds: float, partitions: int,
                cfg: simulator.SimConfig) -> dict[str, float]:
    """Flood a fresh worker; the accepted and end-to-end rates over the second half."""
    worker = start_worker(bootstrap, workdir, "measure", partitions)
    producer = Producer(bootstrap, worker.settings.input_topic, traffic(cfg), None).start()
    def follow(until: float) -> dict[str, float]:
        """Keep the backlog at most 50,000 records ahead of the worker until `until`."""
        while True:
            m = worker.metrics()
            producer.ceiling = int(accepted(m)) + 50_000
            if time.monotonic() >= until:
                return m
            time.sleep(0.5)

    try:
        began = time.monotonic()
        m0, t0 = follow(began + seconds / 2), time.monotonic()
        m1, t1 = follow(began + seconds), time.monotonic()
        if not worker.alive:
            raise RuntimeError(f"the worker died while measuring; see {worker.log_path}")
        return {"accepted_per_s": (accepted(m1) - accepted(m0)) / (t1 - t0),
                "processed_per_s": (processed(m1) - processed(m0)) / (t1 - t0),
                "produced": producer.sent}
    finally:
        producer.stop()
        worker.stop()


@dataclass
class Sample:
    t: float
    rss_mib: float | None
    lag: float | None
    input_lag: float | None  # the part of `lag` on the input topic; the rest is internal
    produced: int
    accepted: float
    processed: float
    broker_rss_mib: float | None = None


@dataclass
class Soak:
    rate: float
    minutes: float
    samples: list[Sample] = field(default_factory=list)
    drained_after_s: float | None = None
    final_accepted: float = 0.0
    produced: int = 0
    exit_status: int | None = None
    alive: bool = True


def soak(bootstrap: str, workdir: Path, rate: float, minutes: float, every: float,
         partitions: int, cfg: simulator.SimConfig, fresh_accounts: bool,
         broker_pid: int | None) -> Soak:
    worker = start_worker(bootstrap, workdir, "soak", partitions)
    result = Soak(rate=rate, minutes=minutes)
    pid = worker.pid
    producer = Producer(bootstrap, worker.settings.input_topic, traffic(cfg, fresh_accounts),
                        rate).start()
    began = time.monotonic()
    print(f"{'t (s)':>7} {'RSS MiB':>8} {'lag':>8} {'input lag':>9} {'produced':>10} "
          f"{'accepted':>10} {'events/s':>9}", flush=True)
    try:
        last_acc, last_t = 0.0, began
        while True:
            now = time.monotonic()
            m = worker.metrics()
            s = Sample(t=round(now - began, 1), rss_mib=rss_mib(pid), lag=lag(m),
                       input_lag=lag(m, worker.settings.input_topic), produced=producer.sent,
                       accepted=accepted(m), processed=processed(m),
                       broker_rss_mib=rss_mib(broker_pid))
            result.samples.append(s)
            speed = (s.accepted - last_acc) / max(1e-9, now - last_t)
            last_acc, last_t = s.accepted, now
            print(f"{s.t:7.0f} {s.rss_mib or 0:8.1f} {show(s.lag):>8} {show(s.input_lag):>9} "
                  f"{s.produced:10d} {s.accepted:10.0f} {speed:9.0f}", flush=True)
            if not worker.alive:
                result.alive = False
                print(f"the worker died; see {worker.log_path}", file=sys.stderr)
                break
            if producer.error is not None:
                raise RuntimeError(f"producer failed: {producer.error!r}")
            if now - began >= minutes * 60:
                break
            time.sleep(max(0.0, began + len(result.samples) * every - time.monotonic()))
        producer.stop()
        result.produced = producer.sent
        if result.alive:  # traffic stopped: does the worker catch up?
            stop = time.monotonic()
            deadline = stop + 120
            while time.monotonic() < deadline and accepted(worker.metrics()) < producer.sent:
                time.sleep(1.0)
            result.final_accepted = accepted(worker.metrics())
            if result.final_accepted >= producer.sent:
                result.drained_after_s = round(time.monotonic() - stop, 1)
    finally:
        producer.stop()
        result.exit_status = worker.stop()
    return result


# -- verdict and report --------------------------------------------------------------------


def show(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (t, y) points (0 with fewer than two)."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mt = sum(t for t, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    return sum((t - mt) * (y - my) for t, y in points) / var if var else 0.0


def verdict(run: Soak) -> dict[str, Any]:
    rss = [(s.t, s.rss_mib) for s in run.samples if s.rss_mib is not None]
    lags = [(s.t, s.lag) for s in run.samples if s.lag is not None]
    half = run.samples[-1].t / 2 if run.samples else 0.0
    rss_half = [r for t, r in rss if t >= half]
    lag_half = [(t, v) for t, v in lags if t >= half]
    growth = (rss_half[-1] - rss_half[0]) / rss_half[0] if len(rss_half) >= 2 else None
    lag_slope = slope(lag_half)
    end_lag = lags[-1][1] if lags else None
    rss_ok = growth is not None and growth < 0.10
    lag_ok = bool(lags) and (lag_slope < 0.01 * run.rate
                             or (end_lag is not None and end_lag < 5 * run.rate))
    return {
        "rss_mib": {"start": rss[0][1] if rss else None, "end": rss[-1][1] if rss else None,
                    "max": max((r for _, r in rss), default=None),
                    "growth_last_half": None if growth is None else round(growth, 4),
                    "bounded": rss_ok},
        "lag_messages": {"start": lags[0][1] if lags else None, "end": end_lag,
                         "max": max((v for _, v in lags), default=None),
                         "slope_last_half_per_s": round(lag_slope, 2), "bounded": lag_ok},
        "bounded": rss_ok and lag_ok and run.alive,
    }


def report(run: Soak, measured: dict[str, float] | None, v: dict[str, Any],
           meta: dict[str, Any]) -> str:
    r, lg = v["rss_mib"], v["lag_messages"]
    growth = r["growth_last_half"]
    growth_text = "n/a" if growth is None else f"{100 * growth:.1f}%"
    lines = [
        f"# Soak: {run.minutes:g} minutes at {run.rate:.0f} events/s",
        "",
        f"Broker: {meta['broker']}; {meta['partitions']} partitions; traffic: "
        f"{meta['traffic']}; machine: {meta['cpus']} CPUs, 1-minute load average "
        f"{meta['load_average_1m']['before']} before the run and "
        f"{meta['load_average_1m']['after']} after it (the soak's own processes excluded "
        f"from the first, included in the second).",
        "",
    ]
    if measured:
        lines += [f"Measured maximum (flooded for {meta['measure_seconds']:g} s): "
                  f"{measured['accepted_per_s']:.0f} records/s accepted by ingest, "
                  f"{measured['processed_per_s']:.0f} events/s through scoring; the soak "
                  f"rate is half the lower of the two.", ""]
    broker_rss = any(s.broker_rss_mib for s in run.samples)
    lines += [
        "| t (s) | worker RSS (MiB) | consumer lag (messages) | of which input topic | produced "
        "| accepted |" + (" broker RSS (MiB) |" if broker_rss else ""),
        "| ---: | ---: | ---: | ---: | ---: | ---: |" + (" ---: |" if broker_rss else ""),
    ]
    for s in run.samples:
        row = (f"| {s.t:.0f} | {s.rss_mib or 0:.1f} | {show(s.lag)} | {show(s.input_lag)} | "
               f"{s.produced} | {s.accepted:.0f} |")
        if broker_rss:
            row += f" {s.broker_rss_mib or 0:.0f} |"
        lines.append(row)
    lines += [
        "",
        f"- Worker RSS: start {r['start']:.1f} MiB, end {r['end']:.1f} MiB, max "
        f"{r['max']:.1f} MiB; growth over the last half "
        f"{growth_text} ({'bounded' if r['bounded'] else 'NOT bounded'}: the bar is < 10%).",
        f"- Consumer lag: start {lg['start']}, end {lg['end']}, max {lg['max']}; slope over "
        f"the last half {lg['slope_last_half_per_s']} messages/s "
        f"({'bounded' if lg['bounded'] else 'TRENDING UP'}: the bar is < 1% of the input "
        f"rate, or an end lag under 5 s of traffic).",
        f"- Produced {run.produced}, accepted {run.final_accepted:.0f}; "
        + (f"drained {run.drained_after_s} s after traffic stopped."
           if run.drained_after_s is not None else "did NOT drain within 120 s of traffic "
           "stopping.")
        + f" Worker {'alive' if run.alive else 'DIED'}; exit status on SIGTERM "
        f"{run.exit_status}.",
        "",
        f"**Verdict: {'bounded' if v['bounded'] else 'NOT bounded'}.**",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="soak duration [10]")
    parser.add_argument("--rate", type=float, default=None,
                        help="events/s [default: half the measured maximum]")
    parser.add_argument("--measure-seconds", type=float, default=30.0,
                        help="how long to flood when measuring the maximum [30]")
    parser.add_argument("--sample-seconds", type=float, default=10.0, help="sampling period [10]")
    add_bootstrap_argument(parser)
    parser.add_argument("--partitions", type=int, default=2, help="input and internal topics [2]")
    parser.add_argument("--fresh-accounts", action="store_true",
                        help="a new account population every simulated day (tables grow)")
    add_results_argument(parser)
    args = parser.parse_args(argv)
    if args.minutes <= 0 or (args.rate is not None and args.rate <= 0):
        parser.error("--minutes and --rate must be positive")
    load_before = os.getloadavg()
    broker = None if args.bootstrap else EmbeddedBroker().start()
    bootstrap = args.bootstrap or broker.bootstrap_servers  # type: ignore[union-attr]
    broker_pid = broker.pid if broker is not None else None
    try:
        with tempfile.TemporaryDirectory(prefix="distillguard-soak-") as tmp:
            workdir = Path(tmp)
            measured = None
            rate = args.rate
            if rate is None:
                print(f"measuring the maximum rate for {args.measure_seconds:g} s ...",
                      file=sys.stderr, flush=True)
                measured = measure_max(bootstrap, workdir, args.measure_seconds,
                                       args.partitions, SCENARIO)
                print(f"maximum: {measured['accepted_per_s']:.0f} records/s accepted, "
                      f"{measured['processed_per_s']:.0f} events/s scored", file=sys.stderr)
                # the worker's maximum is its slower end: half of that is 50% load
                rate = max(1.0, min(measured["accepted_per_s"], measured["processed_per_s"]) / 2)
            print(f"soaking at {rate:.0f} events/s for {args.minutes:g} min ...",
                  file=sys.stderr, flush=True)
            run = soak(bootstrap, workdir, rate, args.minutes, args.sample_seconds,
                       args.partitions, SCENARIO, args.fresh_accounts, broker_pid)
    finally:
        if broker is not None:
            broker.stop()
    v = verdict(run)
    meta = {"broker": args.bootstrap or "embedded Tansu (memory storage)",
            "partitions": args.partitions, "cpus": os.cpu_count(),
            "measure_seconds": args.measure_seconds,
            # other processes on the machine skew every figure: the load shows how much
            "load_average_1m": {"before": round(load_before[0], 2),
                                "after": round(os.getloadavg()[0], 2)},
            "traffic": ("a new simulated account population every day" if args.fresh_accounts
                        else f"one simulated day ({SCENARIO.organic_accounts} organic, "
                             f"{SCENARIO.loud_accounts} loud, {SCENARIO.hydra_accounts} campaign "
                             f"accounts) repeated with event time moving forward")}
    text = report(run, measured, v, meta)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "soak.md").write_text(text + "\n")
    (args.out / "soak.json").write_text(json.dumps({
        "rate": run.rate, "minutes": run.minutes, "measured_max": measured, "meta": meta,
        "verdict": v, "produced": run.produced, "accepted": run.final_accepted,
        "drained_after_s": run.drained_after_s, "alive": run.alive,
        "exit_status": run.exit_status, "samples": [s.__dict__ for s in run.samples],
    }, indent=1) + "\n")
    print(f"wrote {args.out}/soak.md and soak.json", file=sys.stderr)
    return 0 if v["bounded"] else 1


if __name__ == "__main__":
    sys.exit(main())
