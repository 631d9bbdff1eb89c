"""The Faust application: topics, the accounts table and the agents.

Data flow (see README): the `ingest` agent reads raw records from the input
topic, validates them and either dead-letters them with the contract's
headers or forwards the text-free event to an internal topic keyed by
account; the `accounts` agent reads that topic, so every account's events
arrive in order at the one worker that owns its table partition, and runs
the detector on them. Prompt text never leaves `models.events.parse_event`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import logging

import faust
import orjson
from aiokafka.errors import KafkaError
from faust.exceptions import ProducerSendError
from faust.serializers import codecs
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from models.detector import Detector
from models.events import Event, Rejection, parse_event
from streams import metrics
from streams.security import KafkaSecurity
from streams.settings import Settings


class OrjsonCodec(codecs.Codec):
    """Table values and changelogs as orjson: plain records, never pickles."""

    def _dumps(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def _loads(self, s: bytes) -> Any:
        return orjson.loads(s)


codecs.register("orjson", OrjsonCodec())
logger = logging.getLogger(__name__)


def dlq_headers(rejection: Rejection, topic: str, partition: int, offset: int) -> list[tuple[str, bytes]]:
    """The dead-letter headers the contract names."""
    return [
        ("x-dlq-reason", rejection.reason.encode()),
        ("x-dlq-error", rejection.error.encode("utf-8", "replace")),
        ("x-source-topic", topic.encode()),
        ("x-source-partition", str(partition).encode()),
        ("x-source-offset", str(offset).encode()),
    ]


@dataclass(frozen=True)
class Service:
    """The app and its parts, so tests can reach topics, table and agents."""

    app: faust.App
    source: faust.TopicT
    events_topic: faust.TopicT
    dlq: faust.TopicT
    alerts: faust.TopicT
    accounts: faust.Table
    ingest: faust.types.AgentT
    score: faust.types.AgentT
    detector: Detector


def build_app(settings: Settings) -> Service:
    """A Faust app wired to `settings`; `streams.cli` runs `.app` as a worker."""
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{s.strip()}" for s in settings.bootstrap_servers.split(",")],
        store=settings.store,
        datadir=settings.data_dir,
        topic_partitions=settings.partitions,
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        value_serializer="orjson",  # the table's changelog: plain orjson records
        key_serializer="json",
        table_cleanup_interval=3600.0,
        broker_rebalance_timeout=settings.rebalance_timeout,
        broker_credentials=KafkaSecurity.from_env().faust_credentials(),
        # the DLQ forwards records over the 1 MiB contract limit unchanged
        producer_max_request_size=settings.max_request_bytes,
        consumer_max_fetch_size=settings.max_request_bytes,
    )
    source = app.topic(settings.input_topic, key_type=bytes, value_type=bytes,
                       key_serializer="raw", value_serializer="raw")
    events_topic = app.topic(settings.events_topic, key_type=bytes, value_type=bytes,
                             key_serializer="raw", value_serializer="raw",
                             partitions=settings.partitions, internal=True)
    dlq = app.topic(settings.dlq_topic, key_serializer="raw", value_serializer="raw")
    alerts = app.topic(settings.alerts_topic, key_serializer="raw", value_serializer="raw")
    accounts = app.Table("accounts", default=None, partitions=settings.partitions,
                         key_type=str, value_type=dict)
    detector = Detector(settings.detector_config())

    async def dead_letter(msg: Any, value: bytes | None, rejection: Rejection) -> None:
        """Send a rejected record to the DLQ; if the broker refuses it, send its headers alone."""
        metrics.RECORDS.labels("rejected").inc()
        metrics.DEAD_LETTERS.labels(rejection.reason).inc()
        headers = dlq_headers(rejection, msg.topic, msg.partition, msg.offset)
        try:
            delivery = await dlq.send(key=msg.key, value=value or b"", headers=headers)
            await delivery  # wait: a refused record must be noticed here, not lost in a buffer
        except (KafkaError, ProducerSendError) as exc:
            logger.error("dead-letter send failed (%s); sending the headers without the value",
                         type(exc).__name__)
            note = Rejection(rejection.reason, f"{rejection.error}; the original "
                             f"{len(value or b'')} bytes could not be forwarded: {exc}")
            # a broker that refuses even this is down: let the error surface loudly
            await (await dlq.send(key=msg.key, value=b"",
                                  headers=dlq_headers(note, msg.topic, msg.partition, msg.offset)))

    @app.agent(source)
    async def ingest(stream: faust.StreamT) -> None:
        async for event in stream.events():
            parsed = parse_event(event.value)
            if isinstance(parsed, Rejection):
                await dead_letter(event.message, event.value, parsed)
                continue
            metrics.RECORDS.labels("accepted").inc()
            await events_topic.send(key=parsed.account_id.encode(), value=parsed.to_wire())

    @app.agent(events_topic)
    async def score(stream: faust.StreamT) -> None:
        async for event in stream.events():
            ev = Event.from_wire(event.value)
            try:
                outcome = detector.process(ev, accounts.get(ev.account_id))
            except Exception as exc:  # a detector bug must not stop the worker or lose the event
                logger.exception("detector failed on an event; dead-lettering it")
                await dead_letter(event.message, event.value,
                                  Rejection("internal_error", f"{type(exc).__name__}: {exc}"))
                continue
            if outcome.duplicate:
                metrics.EVENTS.labels("duplicate").inc()
                continue
            metrics.EVENTS.labels("counted").inc()
            accounts[ev.account_id] = outcome.record
            if outcome.scored is not None:
                metrics.SCORE_TICKS.inc()
                metrics.MODEL_WARM.set(1 if detector.population.warm else 0)
            for alert in outcome.alerts:
                metrics.ALERTS.labels(alert["kind"], alert["severity"], alert["action"]).inc()
                await alerts.send(key=alert["subject"].encode(), value=orjson.dumps(alert))

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    return Service(app, source, events_topic, dlq, alerts, accounts, ingest, score, detector)
