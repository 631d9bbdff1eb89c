"""Step 3: latency at a paced rate, to the account's table record and to an alert."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from distillguard.streams.settings import Settings
from distillguard.testing.consume import assigned_consumer
from distillguard.testing.produce import make_producer

from perf.common import percentile, progress

#: seconds of the paced stream after which its accounts get new ids (see paced_latency)
SEGMENT_S = 5.0


def _ms(x: float | None) -> float | None:
    return None if x is None else round(1000.0 * x, 1)


def latency_stats(v: list[float]) -> dict[str, Any]:
    """Count, p50, p90, p99 and max of latencies in seconds, as milliseconds."""
    return {"count": len(v), "p50_ms": _ms(percentile(v, 0.5)),
            "p90_ms": _ms(percentile(v, 0.9)), "p99_ms": _ms(percentile(v, 0.99)),
            "max_ms": _ms(max(v) if v else None)}


async def paced_latency(bootstrap: str, settings: Settings, rate: float, duration: float,
                        events: list[dict[str, Any]]) -> dict[str, Any]:
    """Produce `events` at `rate` for `duration` s with `ts` = send time; latencies seen.

    Table latency: arrival of the account's changelog record here - its `last`; alert
    latency: arrival of the alert - its `ts`.
    """
    changelog = await assigned_consumer(bootstrap, f"{settings.app_id}-accounts-changelog",
                                        timeout=30.0, fetch_max_wait_ms=50)
    alerts = await assigned_consumer(bootstrap, settings.alerts_topic, timeout=30.0,
                                     fetch_max_wait_ms=50)
    for consumer, topic in ((changelog, "the accounts changelog"), (alerts, "the alerts topic")):
        if not consumer.assignment():
            await changelog.stop()
            await alerts.stop()
            raise RuntimeError(f"{topic} has no partitions after 30s")
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
    prod = make_producer(bootstrap, linger_ms=2)
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
    return {"target_rate": rate, "sent": sent, "produce_seconds": produced_s,
            "achieved_rate": sent / produced_s, "drained_after_s": drained_after,
            "table": latency_stats(table_lat), "alerts": latency_stats(alert_lat),
            "alert_kinds": dict(alert_kinds)}
