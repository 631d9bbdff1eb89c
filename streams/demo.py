"""`distillguard demo`: the whole pipeline on one machine, in one command.

It starts the embedded broker on a free loopback port, creates the topics,
starts `distillguard worker` as a child process, and produces a simulated
scenario (organic accounts plus extraction accounts) as fast as the broker
takes it: event time is in the events, so days of traffic pass in seconds.
Meanwhile it follows the alerts topic and the accounts table's changelog to
show progress and the riskiest accounts, and at the end compares what was
flagged with the simulator's ground truth.

Every child runs in its own process group and is stopped in a `finally`, so
the demo leaves no process behind, on Ctrl-C too.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from distillguard import simulator
from distillguard.streams.admin import ensure_topics, internal_topics
from distillguard.streams.settings import Settings, as_environment
from distillguard.streams.topology import build_app
from distillguard.testing.broker import EmbeddedBroker, free_port
from distillguard.testing.processes import stop_group
from distillguard.testing.produce import produce_events


@dataclass
class DemoView:
    """What the demo has seen so far, rendered as a rich table."""

    truth: dict[str, str]
    produced: int = 0
    total: int = 0
    processed: dict[str, int] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)  # account -> worst alert

    @property
    def processed_total(self) -> int:
        """Events the worker has counted, over all accounts (from the changelog)."""
        return sum(self.processed.values())

    def on_record(self, account: str, record: dict[str, Any]) -> None:
        """Take an account's event count and latest score from its changelog record."""
        self.processed[account] = record["n"]
        self.scores[account] = record["score"]

    def on_alert(self, alert: dict[str, Any]) -> None:
        """Keep, for each account an alert names, its highest-scoring alert."""
        for account in alert["accounts"]:
            old = self.alerts.get(account)
            if old is None or alert["score"] > old["score"]:
                self.alerts[account] = alert

    def render(self) -> Table:
        """Progress in the title, and the ten highest-scoring accounts with their alerts."""
        table = Table(title=f"distillguard demo: produced {self.produced:,}/{self.total:,} "
                            f"events, processed {self.processed_total:,}, "
                            f"{len(self.alerts)} accounts alerted")
        for col in ("account", "truth", "events", "score", "alert", "top reasons"):
            table.add_column(col)
        top = sorted(self.scores.items(), key=lambda kv: -kv[1])[:10]
        for account, score in top:
            alert = self.alerts.get(account)
            reasons = ", ".join(r["signal"] for r in alert["reasons"][:3]) if alert else ""
            table.add_row(account, self.truth.get(account, "?"),
                          str(self.processed.get(account, 0)), f"{score:.3f}",
                          alert["severity"] if alert else "", reasons)
        return table

    def summary(self) -> tuple[str, bool]:
        """Detection against the ground truth as text, and whether it was clean: every
        extraction account alerted, no organic one."""
        extraction = {a for a, label in self.truth.items() if label == "extraction"}
        organic = set(self.truth) - extraction
        flagged = set(self.alerts)
        hit, missed, false = flagged & extraction, extraction - flagged, flagged & organic
        lines = [
            f"events produced {self.produced:,}, processed by the worker {self.processed_total:,}",
            f"extraction accounts detected: {len(hit)}/{len(extraction)}"
            + (f" (missed: {', '.join(sorted(missed)[:10])})" if missed else ""),
            f"organic accounts flagged: {len(false)}/{len(organic)}"
            + (f" ({', '.join(sorted(false)[:10])})" if false else ""),
        ]
        return "\n".join(lines), not missed and not false


def run_demo(settings: Settings, scenario: str, timeout: float) -> int:
    """Run the demo; 0 when it completed or was stopped with Ctrl-C, 1 on failure."""
    cfg = simulator.SCENARIOS.get(scenario)
    if cfg is None:
        print(f"distillguard demo: unknown scenario {scenario!r}; "
              f"choose from {', '.join(simulator.SCENARIOS)}", file=sys.stderr)
        return 2
    console = Console(stderr=False)
    workdir = tempfile.mkdtemp(prefix="distillguard-demo-")
    broker = EmbeddedBroker(log_path=os.path.join(workdir, "broker.log"))
    worker: subprocess.Popen[bytes] | None = None
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        console.print(f"[bold]distillguard demo[/]: scenario {scenario!r}, logs in {workdir}")
        broker.start()
        settings = replace(settings, bootstrap_servers=broker.bootstrap_servers,
                           app_id="distillguard-demo", web_port=free_port(), rebalance_timeout=3.0,
                           session_timeout=6.0,
                           data_dir=os.path.join(workdir, "data"))
        # the changelog too (compacted, as the worker would make it): this view follows it
        asyncio.run(ensure_topics(settings.bootstrap_servers, {
            settings.input_topic: settings.partitions, settings.dlq_topic: 1,
            settings.alerts_topic: 1, settings.feedback_topic: 1,
            **internal_topics(build_app(settings).app)}))
        console.print(f"embedded broker on {settings.bootstrap_servers}; starting the worker")
        worker = _start_worker(settings, os.path.join(workdir, "worker.log"))
        view = DemoView(truth=simulator.ground_truth(cfg))
        ok = asyncio.run(_drive(settings, cfg, view, worker, console, timeout))
        text, clean = view.summary()
        console.print(view.render())
        console.print("[bold]summary[/]\n" + text)
        console.print("[green]all extraction accounts detected, no organic account flagged[/]"
                      if clean else "[yellow]detection was not perfect on this run[/]")
        if not ok:
            console.print(f"[red]the demo did not finish[/]: see {workdir}/worker.log")
            return 1
        return 0
    except KeyboardInterrupt:
        console.print("interrupted: stopping the worker and the broker")
        return 0  # a stop the user asked for is a normal end, not a failure
    finally:
        stop_group(worker, timeout=30)
        broker.stop()
        signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _start_worker(settings: Settings, log_path: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, **as_environment(settings)}
    with open(log_path, "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "distillguard", "worker"], env=env,
                                stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


async def _drive(settings: Settings, cfg: simulator.SimConfig, view: DemoView,
                 worker: subprocess.Popen[bytes], console: Console, timeout: float) -> bool:
    """Produce the scenario and follow the worker until it has processed every event."""
    view.total = sum(1 for _ in simulator.generate(cfg))
    deadline = time.monotonic() + timeout
    follower = asyncio.create_task(_follow(settings, view))

    def progress(n: int) -> None:
        view.produced = n

    producer = asyncio.create_task(produce_events(settings.bootstrap_servers, settings.input_topic,
                                                  simulator.generate(cfg), progress))
    interactive = console.is_terminal
    last_print = 0.0
    try:
        with Live(view.render(), console=console, refresh_per_second=4,
                  auto_refresh=False) if interactive else _Null() as live:
            while time.monotonic() < deadline:
                if worker.poll() is not None:
                    console.print(f"[red]the worker exited with code {worker.returncode}[/]")
                    return False
                if producer.done():
                    producer.result()  # raises if producing failed
                    if view.processed_total >= view.total:
                        return True
                if interactive:
                    live.update(view.render(), refresh=True)
                elif time.monotonic() - last_print > 5:
                    last_print = time.monotonic()
                    console.print(f"progress: produced {view.produced:,}/{view.total:,}, "
                                  f"processed {view.processed_total:,}, "
                                  f"accounts alerted {len(view.alerts)}")
                await asyncio.sleep(0.25)
            console.print(f"[red]timed out after {timeout:.0f}s[/]")
            return False
    finally:
        follower.cancel()
        producer.cancel()
        await asyncio.gather(follower, producer, return_exceptions=True)


class _Null:
    """Stands in for rich's Live when the output is not a terminal (CI logs)."""

    def __enter__(self) -> _Null:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, *args: object, **kwargs: object) -> None:
        """Nothing to redraw without a terminal."""


async def _follow(settings: Settings, view: DemoView) -> None:
    """Read alerts and the accounts changelog (records hold counts and scores, never text)."""
    changelog = f"{settings.app_id}-accounts-changelog"
    consumer = AIOKafkaConsumer(settings.alerts_topic, changelog,
                                bootstrap_servers=settings.bootstrap_servers,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                metadata_max_age_ms=2000)
    await consumer.start()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for tp, records in batches.items():
                for rec in records:
                    if rec.value is None:
                        continue
                    if tp.topic == changelog:
                        view.on_record(orjson.loads(rec.key), orjson.loads(rec.value))
                    else:
                        view.on_alert(orjson.loads(rec.value))
    finally:
        await consumer.stop()
