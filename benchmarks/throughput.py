"""Throughput, latency and memory of the distillguard worker against a real broker.

One run, on one set of simulated events kept in memory as orjson bytes:

1. produces N events of the simulator's mix (the `hydra` scenario scaled to N,
   plus one loud extraction account), keyed by account, to a fresh input topic;
2. consumes that same topic, one after another, with
   (a) a raw aiokafka consumer (`getmany` + `orjson.loads` of every value),
   (b) a bare Faust agent that only parses each event (`perf/bare_faust_app.py` in a
       child process),
   (c) the full worker (`python -m distillguard worker`), its rate read from the
       `distillguard_events_processed_total` counter on /metrics, start-up excluded,
   and, for context, (d) the detector alone in this process (`parse_event` +
   `distillguard.models.replay.Backtest`, no Kafka) and (e) the floor of the worker's
   transport: its batch consumer (`distillguard.streams.batching`) with the least work a
   detector can do, parse and one table write per account per batch, and (f) the Python
   peer users would pick instead: a Quix Streams application keeping a counter, a rate
   and a rolling mean of output tokens per account (`perf/quix_app.py`);
3. latency at half of (c)'s rate: paced production with `ts` = produce wall time,
   p50/p99 of (arrival of the account's changelog record - its `last`) and of
   (arrival of an alert - its `ts`);
4. memory: changelog bytes per tracked account (from run (c)), and the worker's
   RSS with --million-accounts tracked accounts (fingerprint-only synthetic events), and
   the seconds a fresh worker of the group takes to rebuild those tables from
   their changelogs (a failover without a standby replica);
5. scale-out: two workers in one group against one, on the same input;
6. an optional py-spy profile of the worker (where its time goes).

The steps are in `benchmarks/perf/` (see its `__init__`); this script is their entry point.
Usage: python benchmarks/throughput.py [--events 200000] [--bootstrap HOST:PORT]
       [--partitions 4] [--skip-million] [--out benchmarks/results]
Writes <out>/throughput.md and <out>/throughput.json; progress goes to stderr.
Every child process runs in its own process group and is stopped (SIGTERM, then
SIGKILL) in a `finally`. Figures: benchmarks/results/throughput.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from distillguard.testing.broker import EmbeddedBroker

from perf import runs
from perf.common import add_bootstrap_argument, add_results_argument, progress
from perf.report import markdown
from perf.system import Busy, machine
from perf.workers import EXTRA_WORKER_ENV


def _on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line; --worker-env items go into `EXTRA_WORKER_ENV`."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000, help="events N [200000]")
    add_bootstrap_argument(parser)
    parser.add_argument("--partitions", type=int, default=4, help="input topic partitions [4]")
    parser.add_argument("--skip-million", action="store_true",
                        help="skip the 1,000,000-account memory part")
    parser.add_argument("--million-accounts", type=int, default=1_000_000,
                        help="accounts of the memory part [1000000]")
    parser.add_argument("--million-events-per-account", type=int, default=1,
                        help="events per account in the memory part [1: every account is "
                             "tracked from its first event, and the part stays short]")
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
    add_results_argument(parser)
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
    return args


def run(args: argparse.Namespace, ctx: runs.Context) -> None:
    """Every step, in order; each adds its section to `ctx.result`."""
    events, topic = runs.inputs(ctx, args.events)
    sc = runs.throughput(ctx, events, topic, args.skip_inprocess)
    runs.table_state(ctx, sc)
    runs.latency(ctx, args.latency_seconds)
    if not args.skip_scale_out:
        runs.scale_out(ctx, events, topic)
    if args.skip_million:
        ctx.result["memory"]["million_skipped"] = "skipped (--skip-million)"
    else:
        runs.million_accounts(ctx, args.million_accounts, args.million_events_per_account,
                              args.million_budget_minutes * 60)
    if args.no_profile:
        ctx.result["profile_skipped"] = "skipped (--no-profile)"
    else:
        runs.profile(ctx, topic, args.py_spy, args.profile_seconds)


def write_results(out: Path, result: dict[str, Any]) -> None:
    """<out>/throughput.json and .md (a report that fails says so instead of hiding the run)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "throughput.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    try:
        md = markdown(result)
    except Exception as exc:  # never hide the run's own error behind a report bug
        md = f"# throughput report failed: {type(exc).__name__}: {exc}\n"
    (out / "throughput.md").write_text(md)
    print(md, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
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
            bootstrap, broker_pid = broker.bootstrap_servers, broker.pid
            progress(f"embedded broker at {bootstrap}")
        result["machine"] = machine(bootstrap, broker is not None)
        with Busy() as idle:
            time.sleep(3)
        result["machine"]["busy_before_start_percent"] = idle.percent
        result["machine"]["worker_env_extra"] = dict(EXTRA_WORKER_ENV)
        if (idle.percent or 0) > 20:
            progress(f"WARNING: the machine is already {idle.percent}% busy (percent of one "
                     "core) before the benchmark starts; figures will be lower")
        run(args, runs.Context(bootstrap, work, args.partitions, broker_pid, args.wait_quiet,
                               result))
        result["status"] = "complete"
    except BaseException as exc:
        result["status"] = f"incomplete: {type(exc).__name__}: {str(exc)[:300]}"
        raise
    finally:
        if broker is not None:
            broker.stop()
        if result["status"] == "complete" and not args.keep_work:
            shutil.rmtree(work, ignore_errors=True)
        else:
            progress(f"logs and data kept in {work}")
        result["runtime_s"] = time.time() - started_wall
        result["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        write_results(args.out, result)
        progress(f"{result['status']} after {result['runtime_s'] / 60:.1f} min; "
                 f"wrote {args.out}/throughput.md and .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
