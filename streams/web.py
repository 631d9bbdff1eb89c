"""The worker's web endpoints and sampled gauges: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import faust
from aiokafka.errors import IllegalStateError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from distillguard.streams import metrics

if TYPE_CHECKING:
    from distillguard.streams.sources import SourceWatch


def register(app: faust.App, accounts: faust.types.TableT, fingerprints: faust.types.TableT,
             stream_topics: set[str], interval: float,
             sources: SourceWatch | None = None) -> None:
    """Add /healthz, /readyz and /metrics to `app`, and a timer sampling the gauges.

    `stream_topics`: the topics whose consumer lag is reported (changelogs are read
    by recovery, not streams, and are left out). `sources`: which topics the worker
    reads but does not own are missing (/readyz is 503 while any is).
    """

    @app.timer(interval=interval)
    async def gauges() -> None:
        """Table sizes and consumer lag, sampled: too costly to keep exact per event."""
        metrics.TRACKED_ACCOUNTS.set(len(accounts))
        metrics.TRACKED_FINGERPRINTS.set(len(fingerprints))
        consumer = app.consumer
        metrics.CONSUMER_LAG.clear()  # drop partitions a rebalance took away
        if app.rebalancing:
            return
        for tp in list(consumer.assignment()):
            if tp.topic not in stream_topics:
                continue
            try:
                position = await consumer.position(tp)
            except IllegalStateError:  # revoked by a rebalance while this timer awaited
                continue
            highwater = consumer.highwater(tp)
            if position is not None and highwater is not None:
                metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(
                    max(0, highwater - position))

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        """Liveness: answering at all means the event loop turns."""
        return web.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        """Readiness: partitions assigned, tables recovered, none stalled, no topic missing."""
        assigned = bool(app.consumer.assignment()) if app.consumer else False
        stalled = [{"topic": tp.topic, "partition": tp.partition, "offset": offset}
                   for tp, offset in getattr(app.consumer, "stalled", {}).items()]
        missing = list(sources.missing) if sources is not None else []
        ready = (assigned and not app.in_recovery and not app.rebalancing and not stalled
                 and not missing)
        body = {"ready": ready, "assigned": assigned, "recovering": bool(app.in_recovery),
                "stalled": stalled, "missing_topics": missing}
        return web.json(body, status=200 if ready else 503)

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        """Prometheus text format, from the process-wide registry."""
        return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])
