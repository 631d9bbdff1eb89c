"""The Faust application's topology: topics, tables and agents, declarations only.

Data flow (see README): the input topic -> `ingest` (validate, dead-letter,
score in place or forward) -> the events topic -> `score` (accounts table)
-> the fingerprints topic -> `aggregate` (fingerprints table) -> the links
topic (one partition) -> `campaigns` (the campaign graph) -> alerts. The
work of each agent is a method of `distillguard.streams.handlers.Handlers`,
handed whole fetched batches by `distillguard.streams.batching`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, cast

import faust
from aiokafka import TopicPartition

from distillguard.models.detector import Detector
from distillguard.streams import metrics, web
from distillguard.streams.batching import BatchConsumer, install
from distillguard.streams.handlers import Handlers, Wiring
from distillguard.streams.recovery import committed_offset, replay_log
from distillguard.streams.security import KafkaSecurity
from distillguard.streams.settings import DECLARED, Settings
from distillguard.streams.sources import SourceWatch
from distillguard.streams.wire import CODEC, register_codec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Service:
    """The app and its parts, so tests can reach topics, tables, agents and the detector."""

    app: faust.App
    source: faust.TopicT
    events_topic: faust.TopicT
    fingerprints_topic: faust.TopicT
    links_topic: faust.TopicT
    feedback_topic: faust.TopicT
    dlq: faust.TopicT
    alerts: faust.TopicT
    accounts: faust.types.TableT
    fingerprints: faust.types.TableT
    ingest: faust.types.AgentT
    score: faust.types.AgentT
    aggregate: faust.types.AgentT
    campaigns: faust.types.AgentT
    feedback: faust.types.AgentT
    detector: Detector
    handlers: Handlers


def raw_topic(app: faust.App, name: str, **kwargs: Any) -> faust.TopicT:
    """A topic of raw bytes keys and values: distillguard encodes what it sends itself."""
    return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw",
                     value_serializer="raw", **kwargs)


def _named(setting: str) -> str:
    """A setting as the log names it: `--flag / VARIABLE`."""
    return f"{DECLARED[setting].flag} / {DECLARED[setting].env}"


def build_app(settings: Settings) -> Service:
    """A Faust app wired to `settings`; `distillguard worker` runs its `.app`."""
    register_codec()
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{s.strip()}" for s in settings.bootstrap_servers.split(",")],
        store=settings.store,
        datadir=settings.data_dir,
        topic_partitions=settings.partitions,
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        value_serializer=CODEC,  # the table's changelog: plain orjson records
        key_serializer="json",
        table_cleanup_interval=3600.0,
        broker_rebalance_timeout=settings.rebalance_timeout,
        broker_session_timeout=settings.session_timeout,
        broker_credentials=KafkaSecurity.from_env().faust_credentials(),
        # the DLQ forwards records over the 1 MiB contract limit unchanged
        producer_max_request_size=settings.max_request_bytes,
        producer_max_batch_size=settings.producer_batch_bytes,
        producer_compression_type=(None if settings.producer_compression == "none"
                                   else settings.producer_compression),
        table_standby_replicas=settings.standby_replicas,
        consumer_max_fetch_size=settings.max_request_bytes,
    )
    source = raw_topic(app, settings.input_topic)
    events_topic = raw_topic(app, settings.events_topic, partitions=settings.partitions,
                             internal=True)
    dlq = app.topic(settings.dlq_topic, key_serializer="raw", value_serializer="raw")
    alerts = app.topic(settings.alerts_topic, key_serializer="raw", value_serializer="raw")
    feedback_topic = raw_topic(app, settings.feedback_topic)
    fingerprints_topic = raw_topic(app, f"{settings.app_id}-fingerprints",
                                   partitions=settings.partitions, internal=True)
    # one partition: the campaign graph must see every link, in one order
    links_topic = raw_topic(app, f"{settings.app_id}-links", partitions=1, internal=True)
    # Values are the records' orjson bytes, in memory as in the changelog: a handler
    # decodes what a batch touches and encodes it once (`wire.encoded`). (value_type=dict
    # would make Faust call dict.from_data() on every changelog record during recovery.)
    accounts = app.Table("accounts", default=None, partitions=settings.partitions,
                         value_type=bytes)
    fingerprints = app.Table("fingerprints", default=None, partitions=settings.partitions,
                             value_type=bytes)
    campaign_of = app.GlobalTable("campaign-of", default=None, partitions=1)
    detector = Detector(settings.detection, campaign_of=campaign_of.get)

    def partition_count(topic: str) -> int | None:
        return cast(BatchConsumer, app.consumer).partition_count(topic)  # `install` made it one

    handlers = Handlers(detector, Wiring(
        events=events_topic, fingerprints=fingerprints_topic, links=links_topic, alerts=alerts,
        dlq=dlq, accounts_table=accounts, fingerprints_table=fingerprints,
        campaign_of=campaign_of, partition_count=partition_count,
    ), settings.partitions, settings.idle_horizon,
        feedback_key=settings.feedback_signing_key())

    # The agents subscribe the topics. A running worker hands their records to the
    # handlers a fetched batch at a time (`install`); under Faust's test context they
    # arrive one by one.
    @app.agent(source)
    async def ingest(stream: faust.StreamT) -> None:
        async for event in stream.events():
            await handlers.ingest([event.message])

    @app.agent(events_topic)
    async def score(stream: faust.StreamT) -> None:
        async for event in stream.events():
            await handlers.score([event.message])

    @app.agent(fingerprints_topic)
    async def aggregate(stream: faust.StreamT) -> None:
        async for event in stream.events():
            await handlers.aggregate([event.message])

    @app.agent(links_topic)
    async def campaigns(stream: faust.StreamT) -> None:
        async for event in stream.events():
            await handlers.campaigns([event.message])

    @app.agent(feedback_topic)
    async def feedback(stream: faust.StreamT) -> None:
        async for event in stream.events():
            await handlers.feedback(event.message)

    install(app, {source.get_topic_name(): handlers.ingest,
                  events_topic.get_topic_name(): handlers.score,
                  fingerprints_topic.get_topic_name(): handlers.aggregate,
                  links_topic.get_topic_name(): handlers.campaigns},
            fetch_max_wait=settings.fetch_max_wait,
            self_checked=frozenset({dlq.get_topic_name()}))  # dead_letter awaits its sends

    async def rebuild_campaigns(sender: Any, *args: Any, **kwargs: Any) -> None:
        """On getting the links partition, fold its history again (see streams.recovery)."""
        assigned = args[0]  # Faust sends the assigned partitions positionally
        tp = TopicPartition(links_topic.get_topic_name(), 0)
        if tp not in {TopicPartition(t.topic, t.partition) for t in assigned}:
            return
        graph = detector.graph
        graph.clear()
        until = await committed_offset(settings.bootstrap_servers, settings.app_id, tp)
        folded = await replay_log(settings.bootstrap_servers, tp, until,
                                  lambda value: handlers.fold_link(value, publish=False))
        metrics.ACTIVE_CAMPAIGNS.set(len(graph.campaigns()))
        logger.info("campaign graph rebuilt from %d records of the links topic: %d campaigns",
                    folded, len(graph.campaigns()))

    # cast: Faust's stub of `connect` refuses every coroutine function
    app.on_partitions_assigned.connect(cast(Any, rebuild_campaigns))
    # the topics it reads but never creates: /readyz is 503 while one is missing
    sources = SourceWatch(app, {
        settings.input_topic: _named("input_topic"),
        settings.feedback_topic: _named("feedback_topic")})
    web.register(app, accounts, fingerprints,
                 {t.get_topic_name() for t in (source, events_topic, fingerprints_topic,
                                               links_topic, feedback_topic)},
                 settings.metrics_interval, sources)
    return Service(
        app=app, source=source, events_topic=events_topic,
        fingerprints_topic=fingerprints_topic, links_topic=links_topic,
        feedback_topic=feedback_topic, dlq=dlq, alerts=alerts, accounts=accounts,
        fingerprints=fingerprints, ingest=ingest, score=score, aggregate=aggregate,
        campaigns=campaigns, feedback=feedback, detector=detector, handlers=handlers)
