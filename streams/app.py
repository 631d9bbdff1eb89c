"""The Faust application: topics, the accounts table and the agents.

Data flow (see README): `ingest` reads raw records from the input topic,
validates them and dead-letters the bad with the contract's headers. A good
record already on its account's table partition (keyed by account, input
partitions as many as the tables') is scored right there; the others go,
text-free and packed per partition, to an internal topic partitioned by
account, which `score` reads, so every account's events reach the one worker
that owns its table partition. Scoring runs the detector and sends its score
ticks, packed, to a topic partitioned by fingerprint key (each tick once per
partition, naming the keys it holds there), where `aggregate` keeps the
fingerprint aggregates and sends links to the one-partition topic of
`campaigns`. All four steps take whole fetched batches (distillguard.streams.batching).
Prompt text never leaves `distillguard.models.events.parse_event`.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import faust
import orjson
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.partitioner import murmur2
from faust.exceptions import ProducerSendError
from faust.serializers import codecs
from faust.types import Message
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from distillguard.models.accounts import MODEL_VERSION, AccountScorer
from distillguard.models.campaigns import CampaignGraph
from distillguard.models.density import EdgeBurst
from distillguard.models.events import Event, Rejection, parse_event
from distillguard.models.feedback import Feedback, parse_feedback
from distillguard.models.fingerprints import Link, Tick, applied, fold
from distillguard.streams import metrics
from distillguard.streams.batching import BatchConsumer, install
from distillguard.streams.expiry import Sweeper
from distillguard.streams.recovery import committed_offset, replay_log
from distillguard.streams.security import KafkaSecurity
from distillguard.streams.settings import Settings


class OrjsonCodec(codecs.Codec):
    """Table values and changelogs as orjson: plain records, never pickles."""

    def _dumps(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def _loads(self, s: bytes) -> Any:
        return orjson.loads(s)


codecs.register("orjson", OrjsonCodec())
#: internal control messages share the events and links topics with data; JSON never starts so
FEEDBACK_MARK = b"F:"
UNLINK_MARK = b"U:"
#: events per internal message (a packed message stays far below the 1 MiB default limit)
PACK_SIZE = 500
logger = logging.getLogger(__name__)


def dlq_headers(rejection: Rejection, topic: str, partition: int,
                offset: int) -> list[tuple[str, bytes]]:
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
    """The app and its parts, so tests can reach topics, tables, agents and models."""

    app: faust.App
    source: faust.TopicT
    events_topic: faust.TopicT
    fingerprints_topic: faust.TopicT
    links_topic: faust.TopicT
    feedback_topic: faust.TopicT
    dlq: faust.TopicT
    alerts: faust.TopicT
    accounts: faust.Table
    fingerprints: faust.Table
    ingest: faust.types.AgentT
    score: faust.types.AgentT
    aggregate: faust.types.AgentT
    campaigns: faust.types.AgentT
    feedback: faust.types.AgentT
    detector: AccountScorer
    graph: CampaignGraph


def build_app(settings: Settings) -> Service:
    """A Faust app wired to `settings`; `distillguard.streams.cli` runs `.app` as a worker."""
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
        broker_session_timeout=settings.session_timeout,
        broker_credentials=KafkaSecurity.from_env().faust_credentials(),
        # the DLQ forwards records over the 1 MiB contract limit unchanged
        producer_max_request_size=settings.max_request_bytes,
        producer_max_batch_size=settings.producer_batch_bytes,
        table_standby_replicas=settings.standby_replicas,
        consumer_max_fetch_size=settings.max_request_bytes,
    )
    source = app.topic(settings.input_topic, key_type=bytes, value_type=bytes,
                       key_serializer="raw", value_serializer="raw")
    events_topic = app.topic(settings.events_topic, key_type=bytes, value_type=bytes,
                             key_serializer="raw", value_serializer="raw",
                             partitions=settings.partitions, internal=True)
    dlq = app.topic(settings.dlq_topic, key_serializer="raw", value_serializer="raw")
    alerts = app.topic(settings.alerts_topic, key_serializer="raw", value_serializer="raw")
    feedback_topic = app.topic(settings.feedback_topic, key_type=bytes, value_type=bytes,
                               key_serializer="raw", value_serializer="raw")
    fingerprints_topic = app.topic(f"{settings.app_id}-fingerprints", key_type=bytes,
                                   value_type=bytes, key_serializer="raw", value_serializer="raw",
                                   partitions=settings.partitions, internal=True)
    # one partition: the campaign graph must see every link, in one order
    links_topic = app.topic(f"{settings.app_id}-links", key_type=bytes, value_type=bytes,
                            key_serializer="raw", value_serializer="raw",
                            partitions=1, internal=True)
    # Values are the records' orjson bytes, in memory as in the changelog: about 1 KB an
    # account where the decoded dict takes several KB of Python objects. A handler decodes
    # what a batch touches and encodes it once (see `encoded`). (value_type=dict would make
    # Faust call dict.from_data() on every changelog record during recovery.)
    accounts = app.Table("accounts", default=None, partitions=settings.partitions,
                         value_type=bytes)
    fingerprints = app.Table("fingerprints", default=None, partitions=settings.partitions,
                             value_type=bytes)
    campaign_of = app.GlobalTable("campaign-of", default=None, partitions=1)
    detector = AccountScorer(settings.detector_config(), campaign_of=campaign_of.get)
    graph = CampaignGraph(model_version=MODEL_VERSION)
    link_rule = settings.link_rule()
    density = EdgeBurst()  # in memory: sketches of this worker's fingerprint partitions

    async def send_alert(alert: dict[str, Any]) -> None:
        metrics.ALERTS.labels(alert["kind"], alert["severity"], alert["action"]).inc()
        await alerts.send(key=alert["subject"].encode(), value=orjson.dumps(alert))

    async def dead_letter(msg: Any, value: bytes | None, rejection: Rejection) -> None:
        """Send a rejected record to the DLQ; if the broker refuses it, send its headers alone."""
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

    def decoded(value: bytes | None) -> dict[str, Any] | None:
        return orjson.loads(value) if value is not None else None

    def encoded(record: dict[str, Any] | None) -> bytes:
        """orjson bytes of `record`, copied to their size to be kept in a table.

        orjson (3.13) returns bytes objects that hold a 16 KiB buffer whatever
        their length: kept a million times, 16 GB (13 GB of RSS was measured at
        1M accounts). The copy holds only the ~1 KB record.
        """
        return bytes(memoryview(orjson.dumps(record)))

    @functools.lru_cache(maxsize=1 << 16)  # murmur2 is pure Python; active keys repeat
    def partition_of(key: bytes) -> int:
        """The partition Kafka's default partitioner gives `key` (murmur2, as the Java client)."""
        return (murmur2(key) & 0x7FFFFFFF) % settings.partitions

    def in_place(topic: str) -> bool:
        """Whether `topic`'s partition p holds exactly the accounts of table partition p.

        True when the topic has as many partitions as the tables: Faust then assigns
        partition p of the topic, of the events topic and of the changelogs to one worker
        (co-partitioning), and a record keyed by its account (the contract's key, hashed
        by Kafka's default partitioner) is already where its account's state lives.
        """
        consumer = cast(BatchConsumer, app.consumer)  # `install` made it one
        return consumer.partition_count(topic) == settings.partitions  # None: unknown

    async def ingest_batch(messages: Sequence[Message]) -> None:
        """Validate records; dead-letter the bad; score the good where their state lives.

        A record on the partition its account's table partition has (the gateway keyed
        it by account, see `in_place`) is scored here, in this batch: no second trip
        through Kafka. The others (no key, another key, another partition count) go to
        the events topic, packed: one internal message per events partition per batch,
        each account's events in input order, to the worker owning the account's state.
        """
        packs: dict[int, list[bytes]] = defaultdict(list)
        here: list[tuple[Event, Message]] = []
        direct = in_place(messages[0].topic)
        for msg in messages:
            parsed = parse_event(msg.value)
            if isinstance(parsed, Rejection):
                metrics.RECORDS.labels("rejected").inc()
                await dead_letter(msg, msg.value, parsed)
                continue
            parsed.src = [msg.partition, msg.offset]  # see account_state.seen_before
            partition = partition_of(parsed.account_id.encode())
            if direct and partition == msg.partition:
                here.append((parsed, msg))
            else:
                packs[partition].append(parsed.to_wire())
        metrics.RECORDS.labels("accepted").inc(len(here) + sum(map(len, packs.values())))
        for partition, wires in packs.items():
            for i in range(0, len(wires), PACK_SIZE):
                await events_topic.send(value=b"[" + b",".join(wires[i:i + PACK_SIZE]) + b"]",
                                        partition=partition)
        if here:
            batch = Scoring()
            await batch.apply(here)
            await batch.finish(messages[0].partition)

    async def score_batch(messages: Sequence[Message]) -> None:
        """Apply a batch of forwarded events and feedback to account state."""
        batch = Scoring()
        for msg in messages:
            if msg.value.startswith(FEEDBACK_MARK):  # in order with the account's events
                await batch.feedback(Feedback(**orjson.loads(msg.value[len(FEEDBACK_MARK):])))
            else:
                await batch.apply([(Event(**doc), msg) for doc in orjson.loads(msg.value)])
        await batch.finish(messages[0].partition)

    class Scoring:
        """One batch of one accounts partition: records read once, written once per account."""

        def __init__(self) -> None:
            self.started = time.perf_counter()
            self.records: dict[str, dict[str, Any] | None] = {}
            self.changed: set[str] = set()
            self.outcomes: Counter[str] = Counter()
            self.ticks: dict[int, list[tuple[list[str], Tick]]] = defaultdict(list)
            self.latest = 0.0

        def record_of(self, account: str) -> dict[str, Any] | None:
            if account not in self.records:
                self.records[account] = decoded(accounts.get(account))
            return self.records[account]

        async def feedback(self, fb: Feedback) -> None:
            self.records[fb.subject] = detector.apply_feedback(fb, self.record_of(fb.subject))
            self.changed.add(fb.subject)
            if fb.allowlists:
                await links_topic.send(key=b"links", value=UNLINK_MARK + fb.subject.encode())

        async def apply(self, events: Sequence[tuple[Event, Message]]) -> None:
            """Run the detector on events, each with the message it came in (for a dead letter)."""
            for ev, msg in events:
                try:
                    outcome = detector.process(ev, self.record_of(ev.account_id))
                except Exception as exc:  # a detector bug must not stop the worker or lose it
                    logger.exception("detector failed on an event; dead-lettering it")
                    await dead_letter(msg, ev.to_wire(),
                                      Rejection("internal_error", f"{type(exc).__name__}: {exc}"))
                    continue
                if outcome.duplicate:
                    self.outcomes["duplicate"] += 1
                    continue
                self.outcomes["late" if outcome.late else "counted"] += 1
                self.latest = max(self.latest, ev.ts)
                self.records[ev.account_id] = outcome.record
                self.changed.add(ev.account_id)
                for alert in outcome.alerts:
                    await send_alert(alert)
                if outcome.tick is not None:
                    metrics.SCORE_TICKS.inc()
                    metrics.SCORES.observe(outcome.tick.score)
                    self.route(outcome.tick)

        def route(self, tick: Tick) -> None:
            """Queue `tick` once for each fingerprint partition, naming the keys it holds there.

            A tick names about eight keys over a few partitions: sending it once per
            partition rather than once per key halves what is encoded, sent and decoded.
            """
            keys_at: dict[int, list[str]] = defaultdict(list)
            for key in tick.keys:
                keys_at[partition_of(key.encode())].append(key)
            for tick_partition, keys in keys_at.items():
                self.ticks[tick_partition].append((keys, tick))

        async def finish(self, partition: int) -> None:
            """Send the ticks, then write the tables, expire idle accounts, count."""
            for tick_partition, pack in self.ticks.items():
                await fingerprints_topic.send(value=orjson.dumps(pack), partition=tick_partition)
            # table writes last, with no await among them: a stop mid-batch leaves either all
            # of them or none, and never state whose ticks were not sent
            for account in self.changed:
                accounts[account] = encoded(self.records[account])
            idle_accounts.sweep(partition, self.latest)
            for outcome_name, n in self.outcomes.items():
                metrics.EVENTS.labels(outcome_name).inc(n)
            if self.latest:
                metrics.EVENT_TIME_LAG.set(time.time() - self.latest)
            metrics.MODEL_WARM.set(1 if detector.population.warm else 0)
            metrics.PROCESSING.observe(time.perf_counter() - self.started)

    async def aggregate_batch(messages: Sequence[Message]) -> None:
        """Fold packed ticks into fingerprint aggregates; one table write per key per batch."""
        records: dict[str, dict[str, Any] | None] = {}
        changed: set[str] = set()
        for msg in messages:
            redelivered: dict[str, bool] = {}
            for keys, doc in orjson.loads(msg.value):
                tick = Tick(**doc)
                if isinstance(keys, str):  # a pack from before ticks went once per partition
                    keys = [keys]
                for key in keys:
                    record = records[key] if key in records else decoded(fingerprints.get(key))
                    if redelivered.setdefault(key, applied(record, msg.offset)):
                        continue  # this message reached the key's aggregate before a crash
                    burst = density.score(key, tick.ts)
                    records[key], link = fold(record, key, tick, link_rule, burst, msg.offset)
                    changed.add(key)
                    if link is not None:
                        await links_topic.send(key=b"links", value=orjson.dumps(link))
        latest = 0.0
        for key in changed:
            fingerprints[key] = encoded(records[key])
            latest = max(latest, records[key]["last"])  # type: ignore[index]
        idle_fingerprints.sweep(messages[0].partition, latest)

    idle_accounts = Sweeper(accounts, settings.idle_horizon, partition_of)
    idle_fingerprints = Sweeper(fingerprints, settings.idle_horizon, partition_of)

    # The agents subscribe the topics. A running worker hands their records to the
    # handlers a fetched batch at a time (distillguard.streams.batching); under Faust's test
    # context they arrive one by one.
    @app.agent(source)
    async def ingest(stream: faust.StreamT) -> None:
        async for event in stream.events():
            await ingest_batch([event.message])

    @app.agent(events_topic)
    async def score(stream: faust.StreamT) -> None:
        async for event in stream.events():
            await score_batch([event.message])

    @app.agent(fingerprints_topic)
    async def aggregate(stream: faust.StreamT) -> None:
        async for event in stream.events():
            await aggregate_batch([event.message])

    def fold_link(value: bytes, publish: bool = True) -> list[dict[str, Any]]:
        """Apply one record of the links topic to the graph; return the alerts it causes.

        `publish` writes account -> campaign into the global table; a rebuild does not
        (the table's changelog already holds it, and no agent event is current then).
        """
        if value.startswith(UNLINK_MARK):
            graph.remove_account(value[len(UNLINK_MARK):].decode())
            return []
        if value.startswith(FEEDBACK_MARK):
            graph.allowlist(orjson.loads(value[len(FEEDBACK_MARK):])["subject"])
            return []
        doc = orjson.loads(value)
        link = Link(doc["key"], doc["ts"], tuple(tuple(a) for a in doc["accounts"]),
                    doc["stats"])
        alerts = graph.add(link)
        if publish:
            for account, _, _ in link.accounts:
                campaign = graph.campaign_of(account)
                if campaign_of.get(account) != campaign:  # most links repeat what it holds
                    campaign_of[account] = campaign
        return alerts

    async def campaigns_batch(messages: Sequence[Message]) -> None:
        """Fold a batch of links into the campaign graph; send the alerts they cause."""
        for msg in messages:
            for alert in fold_link(msg.value):
                await send_alert(alert)
        metrics.ACTIVE_CAMPAIGNS.set(len(graph.campaigns()))

    @app.agent(links_topic)
    async def campaigns(stream: faust.StreamT) -> None:
        async for event in stream.events():
            await campaigns_batch([event.message])

    install(app, {source.get_topic_name(): ingest_batch,
                  events_topic.get_topic_name(): score_batch,
                  fingerprints_topic.get_topic_name(): aggregate_batch,
                  links_topic.get_topic_name(): campaigns_batch},
            fetch_max_wait=settings.fetch_max_wait,
            self_checked=frozenset({dlq.get_topic_name()}))  # dead_letter awaits its sends

    @app.on_partitions_assigned.connect
    async def rebuild_campaigns(sender: Any, assigned: set[Any], **kwargs: Any) -> None:
        """On getting the links partition, fold its history again (see streams.recovery)."""
        tp = TopicPartition(links_topic.get_topic_name(), 0)
        if tp not in {TopicPartition(t.topic, t.partition) for t in assigned}:
            return
        graph.clear()
        until = await committed_offset(settings.bootstrap_servers, settings.app_id, tp)
        folded = await replay_log(settings.bootstrap_servers, tp, until,
                                  lambda value: fold_link(value, publish=False))
        metrics.ACTIVE_CAMPAIGNS.set(len(graph.campaigns()))
        logger.info("campaign graph rebuilt from %d links: %d campaigns",
                    folded, len(graph.campaigns()))

    @app.agent(feedback_topic)
    async def feedback(stream: faust.StreamT) -> None:
        """Route feedback to where its subject's state lives, in order with its events."""
        async for event in stream.events():
            fb = parse_feedback(event.value)
            if isinstance(fb, str):
                metrics.FEEDBACK.labels("rejected").inc()
                await dead_letter(event.message, event.value,
                                  Rejection(fb, "not a feedback record of the contract"))
                continue
            metrics.FEEDBACK.labels(fb.label).inc()
            body = FEEDBACK_MARK + orjson.dumps(fb)
            if fb.subject_kind == "account":
                subject = fb.subject.encode()
                await events_topic.send(key=subject, value=body, partition=partition_of(subject))
            elif fb.allowlists:
                await links_topic.send(key=b"links", value=body)

    @app.timer(interval=settings.metrics_interval)
    async def gauges() -> None:
        """Table sizes and consumer lag, sampled: too costly to keep exact per event."""
        metrics.TRACKED_ACCOUNTS.set(len(accounts))
        metrics.TRACKED_FINGERPRINTS.set(len(fingerprints))
        consumer = app.consumer
        stream_topics = {t.get_topic_name() for t in (source, events_topic, fingerprints_topic,
                                                       links_topic, feedback_topic)}
        metrics.CONSUMER_LAG.clear()  # drop partitions a rebalance took away
        for tp in consumer.assignment():
            if tp.topic not in stream_topics:  # changelogs are read by recovery, not streams
                continue
            position = await consumer.position(tp)
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
        """Readiness: partitions assigned and table recovery finished."""
        assigned = bool(app.consumer.assignment()) if app.consumer else False
        ready = assigned and not app.in_recovery and not app.rebalancing
        body = {"ready": ready, "assigned": assigned, "recovering": bool(app.in_recovery)}
        return web.json(body, status=200 if ready else 503)

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    return Service(
        app=app, source=source, events_topic=events_topic,
        fingerprints_topic=fingerprints_topic, links_topic=links_topic,
        feedback_topic=feedback_topic, dlq=dlq, alerts=alerts, accounts=accounts,
        fingerprints=fingerprints, ingest=ingest, score=score, aggregate=aggregate,
        campaigns=campaigns, feedback=feedback, detector=detector, graph=graph)
