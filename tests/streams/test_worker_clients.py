"""The Kafka clients the worker builds: fetch wait, producer batch size and standby
replicas are ours, and its consumer never creates a topic nor skips a dropped record.

The first two bound event -> alert latency (see `distillguard.streams.batching.ShortFetchThread`
and the README's settings table), the third trades failover time for CPU; these
tests check the wiring, the throughput benchmark measures the effect. The last two
make a worker read a topic created while it runs (tests/streams/test_late_topic.py
against a broker).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.client import ConnectionGroup
from aiokafka.protocol.metadata import MetadataRequest_v5
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from distillguard.streams.batching import ShortFetchThread
from distillguard.streams.settings import Settings, from_sources
from distillguard.streams.sources import NoAutoCreateClient
from distillguard.streams.topology import build_app


async def test_the_worker_consumer_holds_a_fetch_for_our_wait_not_fausts() -> None:
    svc = build_app(Settings(app_id="clients-test", partitions=2, fetch_max_wait=0.25))
    thread = svc.app.consumer._thread
    assert isinstance(thread, ShortFetchThread)
    transport = svc.app.consumer.transport
    fausts = AIOKafkaConsumerThread._create_worker_consumer(thread, transport)
    ours = thread._create_worker_consumer(transport)
    try:
        # the attribute is the one aiokafka's constructor fills and its start() reads
        assert fausts._fetch_max_wait_ms == 1500
        assert ours._fetch_max_wait_ms == 250
    finally:
        await fausts.stop()
        await ours.stop()


def test_the_worker_producer_builds_batches_of_the_configured_size() -> None:
    svc = build_app(Settings(app_id="clients-test", partitions=2, producer_batch_bytes=65536))
    assert svc.app.producer.max_batch_size == 65536


@pytest.mark.parametrize("replicas", [0, 2])
def test_the_tables_keep_the_configured_standby_replicas(replicas: int) -> None:
    svc = build_app(Settings(app_id="clients-test", partitions=2, standby_replicas=replicas))
    assert svc.app.conf.table_standby_replicas == replicas
    assert from_sources(env={"DISTILLGUARD_STANDBY_REPLICAS": str(replicas)}).standby_replicas \
        == replicas


@pytest.mark.parametrize("env", [
    {"DISTILLGUARD_FETCH_MAX_WAIT": "-1"},
    {"DISTILLGUARD_PRODUCER_BATCH_BYTES": "100"},
    {"DISTILLGUARD_PRODUCER_BATCH_BYTES": str(2 << 20)},
    {"DISTILLGUARD_STANDBY_REPLICAS": "-1"},
])
def test_out_of_range_client_settings_are_refused(env: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        from_sources(env=env)


async def test_the_worker_consumer_never_asks_the_broker_to_create_a_topic() -> None:
    svc = build_app(Settings(app_id="clients-test", partitions=2))
    thread = svc.app.consumer._thread
    transport = svc.app.consumer.transport
    fausts = AIOKafkaConsumerThread._create_worker_consumer(thread, transport)
    ours = thread._create_worker_consumer(transport)
    sent: list[Any] = []

    class Conn:
        async def send(self, request: Any) -> Any:
            sent.append(request.build(MetadataRequest_v5))
            return SimpleNamespace(brokers=[])  # "no brokers yet": the update gives up

    async def get_conn(node_id: Any, **kwargs: Any) -> Conn:
        return Conn()

    try:
        for consumer in (fausts, ours):
            client = consumer._client
            client._conns[("bootstrap", ConnectionGroup.DEFAULT)] = Conn()
            client._get_conn = get_conn
            assert await client._metadata_update(client.cluster, {"gw.late"}) is False
        assert isinstance(ours._client, NoAutoCreateClient)
        assert [(r.topics, r.allow_auto_topic_creation) for r in sent] == [
            (["gw.late"], True), (["gw.late"], False)]  # aiokafka's, then the worker's
    finally:
        for consumer in (fausts, ours):
            consumer._client._conns.clear()
            await consumer.stop()


class FakeClient:
    """aiokafka's consumer as `BatchConsumer.refetch` uses it: assignment and seek."""

    def __init__(self, assigned: set[TopicPartition]) -> None:
        self.assigned = assigned
        self.seeks: list[tuple[TopicPartition, int]] = []

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))


def consumer_with(client: FakeClient) -> Any:
    """The worker's consumer, its thread's aiokafka client replaced by `client`."""
    consumer = build_app(Settings(app_id="clients-test", partitions=2)).app.consumer

    async def call_thread(fun: Any, *args: Any, **kwargs: Any) -> Any:
        return await fun(*args, **kwargs)

    consumer._thread._consumer = client
    consumer._thread.call_thread = call_thread
    return consumer


async def test_dropped_records_are_fetched_again_where_no_offset_is_committed() -> None:
    new, old, gone = (TopicPartition("gw.late", 0), TopicPartition("events", 0),
                      TopicPartition("gw.late", 1))
    client = FakeClient({new, old})
    consumer = consumer_with(client)
    consumer._committed_offset[old] = 40  # aiokafka's seek_to_committed takes that one back
    await consumer.refetch({new: 0, old: 45, gone: 3})  # `gone` was revoked meanwhile
    assert client.seeks == [(new, 0)]


async def test_records_fetched_while_the_flow_stopped_are_fetched_again() -> None:
    """The lost records of the bug: fetched for a just-assigned partition during recovery."""
    new = TopicPartition("gw.late", 0)
    client = FakeClient({new})
    consumer = consumer_with(client)
    seeks_to_committed: list[bool] = []

    async def wait_next_records(timeout: float) -> Any:
        return {new: [SimpleNamespace(offset=0), SimpleNamespace(offset=1)]}, {new}

    async def perform_seek() -> None:
        seeks_to_committed.append(True)  # aiokafka's: nothing is committed, so no seek

    consumer._wait_next_records = wait_next_records
    consumer.perform_seek = perform_seek
    consumer.flow_active = False  # a rebalance: Faust recovers the tables
    assert [m async for m in consumer.getmany(timeout=1.0)] == []
    assert seeks_to_committed == [True] and client.seeks == [(new, 0)]
