"""The benchmark's inputs: simulated events as bytes, producing them, and changelog sizes."""

from __future__ import annotations

import dataclasses
import itertools
import statistics
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from distillguard import simulator
from distillguard.testing.consume import assigned_consumer, batches_to_end
from distillguard.testing.produce import Record, produce

from perf.common import percentile, progress

#: events the `hydra` scenario is scaled against (scale 1.0 at this many requested);
#: `simulated` scales up again when a scenario gives fewer than asked for
HYDRA_EVENTS = 1_500_000


def simulated(n: int, seed: int = 7) -> tuple[list[tuple[bytes, bytes]], dict[str, Any]]:
    """N events of the `hydra` mix (scaled so about N come out) plus one loud account.

    Serialised once with orjson; (key, value) pairs keyed by account_id.
    """
    base = simulator.SCENARIOS["hydra"]
    scale = max(n / HYDRA_EVENTS, 0.002)
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


def latency_events(n: int, seed: int = 11) -> list[dict[str, Any]]:
    """The simulator mix with 50 loud extraction accounts, so alerts happen."""
    cfg = simulator.SimConfig(days=2.0, organic_accounts=2000, loud_accounts=50,
                              hydra_accounts=0, seed=seed)
    return list(itertools.islice(simulator.generate(cfg), n))


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


async def produce_timed(bootstrap: str, topic: str, records: Iterable[Record], total: int,
                        label: str) -> dict[str, Any]:
    """Produce `records` (acks=1, from memory) with progress lines; count, seconds, rate."""
    start = time.monotonic()
    last = [start]

    def report(n: int) -> None:
        if time.monotonic() - last[0] > 5:
            last[0] = time.monotonic()
            progress(f"{label}: produced {n:,}/{total:,}")

    n = await produce(bootstrap, topic, records, acks=1, max_batch_size=256 << 10,
                      progress=report, every=10_000)
    dt = time.monotonic() - start
    progress(f"{label}: produced {n:,} in {dt:.1f}s ({n / dt:,.0f} ev/s)")
    return {"events": n, "seconds": dt, "events_per_s": n / dt}


async def changelog_sizes(bootstrap: str, topic: str, tail: int | None = None) -> dict[str, Any]:
    """Key and value sizes of the latest record per key (the last `tail` per partition only)."""
    consumer = await assigned_consumer(bootstrap, topic, timeout=30.0)
    if not consumer.assignment():
        await consumer.stop()
        raise RuntimeError(f"topic {topic} has no partitions after 30s")
    latest: dict[bytes, int] = {}
    records = 0
    try:
        async for batch in batches_to_end(consumer, tail):
            for r in batch:
                records += 1
                if r.value is not None and r.key is not None:
                    latest[r.key] = len(r.value)
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


async def topic_traffic(bootstrap: str, topics: dict[str, str], events: int) -> dict[str, Any]:
    """Records and value bytes a run wrote to each of `topics` (label -> name), per input event.

    Why: what the worker sends through Kafka above its input (the Kafka side of its cost:
    changelog writes, the tick hop to the fingerprints topic, links, alerts) is measured
    here rather than guessed from a profile. A topic the run never created counts 0.
    """
    out: dict[str, Any] = {}
    for label, topic in topics.items():
        consumer = await assigned_consumer(bootstrap, topic, timeout=5.0)
        records = size = 0
        try:
            async for batch in batches_to_end(consumer):
                records += len(batch)
                size += sum(len(r.value or b"") for r in batch)
        finally:
            await consumer.stop()
        out[label] = {"records": records, "value_bytes": size,
                      "records_per_event": records / events, "bytes_per_event": size / events}
    return out
