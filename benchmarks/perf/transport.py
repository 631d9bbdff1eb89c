"""The baselines beside the worker: (a) raw aiokafka, (b) bare Faust, (d) the detector alone,
(e) the floor of the worker's transport, (f) the Quix Streams peer."""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from distillguard.models.compiled import implementation, python_twin
from distillguard.models.content import embedder
from distillguard.models.events import Rejection, parse_event
from distillguard.models.replay import Backtest
from distillguard.streams.settings import Settings
from distillguard.testing.processes import spawn, stop_group

from perf.common import ROOT, progress, uid

BARE_FAUST_APP = Path(__file__).with_name("bare_faust_app.py")
QUIX_APP = Path(__file__).with_name("quix_app.py")


async def raw_aiokafka(bootstrap: str, topic: str, n: int) -> dict[str, Any]:
    """(a) A plain consumer group member: `getmany` and `orjson.loads` of every value."""
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


def bare_faust(bootstrap: str, topic: str, n: int, partitions: int, work: Path,
               floor: bool = False, state_bytes: int = 1000) -> dict[str, Any]:
    """(b) a bare Faust agent that only parses; with `floor`, (e) the batch consumer's floor.

    The floor is the worker's own transport (`distillguard.streams.batching`, Faust's consumer,
    tables and changelogs, the worker's fetch size) with the least work a detector
    can do: parse each event and write one `state_bytes` record per account per
    batch. No detector can be faster than this on the same transport.
    """
    label = "(e) floor" if floor else "(b) bare Faust"
    out = work / f"bare-faust-{uid()}.out"
    env = dict(os.environ, BENCH_N=str(n), BENCH_APP_ID=f"bench-bare-{uid()}",
               BENCH_BOOTSTRAP=bootstrap, BENCH_TOPIC=topic, BENCH_PARTITIONS=str(partitions),
               BENCH_DATADIR=str(work / f"bare-data-{uid()}"),
               BENCH_MODE="floor" if floor else "agent", BENCH_STATE_BYTES=str(state_bytes),
               BENCH_FETCH_BYTES=str(Settings().max_request_bytes),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT),
                                                        os.environ.get("PYTHONPATH")])))
    doc = _child_result([sys.executable, str(BARE_FAUST_APP), "worker"], out, env, work, n,
                        label)
    if floor:
        doc["state_bytes"] = state_bytes
    return doc


def quix_peer(bootstrap: str, topic: str, n: int, work: Path) -> dict[str, Any]:
    """(f) the Quix Streams peer (`perf/quix_app.py`): a counter, an event-time rate and a
    rolling output-token mean per account in Quix's RocksDB state, on the same input."""
    out = work / f"quix-{uid()}.out"
    env = dict(os.environ, BENCH_N=str(n), BENCH_APP_ID=f"bench-quix-{uid()}",
               BENCH_BOOTSTRAP=bootstrap, BENCH_TOPIC=topic,
               BENCH_DATADIR=str(work / f"quix-state-{uid()}"))
    return _child_result([sys.executable, str(QUIX_APP)], out, env, work, n, "(f) Quix Streams")


def _child_result(cmd: list[str], out: Path, env: dict[str, str], work: Path, n: int,
                  label: str) -> dict[str, Any]:
    """Run a baseline app until it prints `BENCH-RESULT`, reporting its progress; the app
    is stopped whatever happens."""
    proc = spawn(cmd, out, env=env, cwd=work)
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
                return dict(doc)
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
        stop_group(proc, timeout=20.0)


def in_process(events: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """(d) The detector alone, as the worker runs it, over the same bytes; then its parts.

    The worker's steps: `Detector.parse` (validation, text signals and the content
    sampler) and `Backtest.process` (account, aggregates, graph). The pass is made
    with the hot path this process has (`compiled.implementation()`) and again with
    the Python twin alone, so their ratio comes from one run. Both follow an untimed
    pass that loads the content embedder and warms the process-wide caches (a first
    pass ran about 10% slower than a second, whichever twin ran it), as a worker's are
    once it has run a while.
    """
    values = [value for _, value in events]
    embedder()
    _detector_pass(values, "(d) warm-up")  # process-wide caches (token ids, sketches) warm
    result = _detector_pass(values, f"(d) {implementation()}")
    result["implementation"] = implementation()
    if implementation() == "compiled":
        with python_twin():
            result["python_twin"] = _detector_pass(values, "(d) python twin")
    return result | parse_split(events)


def _detector_pass(values: list[bytes], label: str) -> dict[str, Any]:
    """One pass of the detector over `values`: events/s, and the parse and process parts."""
    pipeline = Backtest()
    parse, process = pipeline.detector.parse, pipeline.process
    clock = time.perf_counter
    parse_s = 0.0
    alerts = 0
    start = last = clock()
    for i, value in enumerate(values):
        began = clock()
        parsed = parse(value)
        parse_s += clock() - began
        if not isinstance(parsed, Rejection):
            alerts += len(process(parsed).alerts)
        if clock() - last > 10:
            last = clock()
            progress(f"{label}: {i + 1:,}/{len(values):,}")
    dt = clock() - start
    n = len(values)
    return {"events": n, "seconds": dt, "events_per_s": n / dt, "us_per_event": 1e6 * dt / n,
            "detector_parse_us": 1e6 * parse_s / n, "process_us": 1e6 * (dt - parse_s) / n,
            "alerts": alerts}


def parse_split(events: list[tuple[bytes, bytes]]) -> dict[str, float]:
    """Microseconds per event of `parse_event` alone, and the part its text signals take.

    Why: the text signals (regular expressions and BLAKE2b over the prompt) were the
    costliest part of parsing; this shows what they cost with the hot path this process
    runs (`compiled.implementation()`). They are timed as the difference between
    `parse_event` over the records as they are and over the same records without `prompt`
    and `system` (so the figure also holds decoding those two strings), in second passes
    after (d), through public names only.
    """
    def seconds(values: list[bytes]) -> float:
        start = time.perf_counter()
        for value in values:
            parse_event(value)
        return time.perf_counter() - start

    values = [value for _, value in events]
    stripped = []
    for value in values:
        doc = orjson.loads(value)
        if isinstance(doc, dict):
            doc.pop("prompt", None)
            doc.pop("system", None)
            value = orjson.dumps(doc)
        stripped.append(value)
    parse_s = seconds(values)
    text_s = parse_s - seconds(stripped)
    return {"parse_us": 1e6 * parse_s / len(events), "text_us": 1e6 * text_s / len(events)}
