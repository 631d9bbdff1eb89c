"""The Kafka clients the worker builds: fetch wait, producer batch size and standby
replicas are ours.

The first two bound event -> alert latency (see `distillguard.streams.batching.ShortFetchThread`
and the README's settings table), the third trades failover time for CPU; these
tests check the wiring, the throughput benchmark measures the effect.
"""

from __future__ import annotations

import pytest
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from distillguard.streams.batching import ShortFetchThread
from distillguard.streams.settings import Settings, from_sources
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
