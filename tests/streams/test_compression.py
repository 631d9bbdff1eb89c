"""Input compressed by a real librdkafka producer, in every Kafka codec, is counted.

Gateways commonly produce with zstd, lz4 or snappy. A worker without the
codec libraries crashed its fetcher on the first such batch and crashed again
on the same batch after every restart; here one worker reads records that
librdkafka (`confluent-kafka`) produced in each codec, and every record must
be counted. The worker itself produces zstd (`--producer-compression`): its
dead letters must read back.

A batch the worker cannot decode (here: zstd for a worker whose codec library
is hidden, as in an install without it) stalls its partition at that batch,
named in the log, a metric and /readyz, while the worker keeps running.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from confluent_kafka import Producer

from distillguard.testing.consume import read_topic
from distillguard.testing.metrics import fetch, metric_values
from distillguard.testing.processes import WorkerProcess
from distillguard.testing.settings import create_topics, unique_settings
from tests.kafka_helpers import counted, wait_settled, wait_until

pytestmark = pytest.mark.integration

CODECS = ("gzip", "snappy", "lz4", "zstd")
PER_CODEC = 150


def produce_compressed(bootstrap: str, topic: str, codec: str, records: int) -> int:
    """Produce `records` request events with librdkafka in `codec`; the number delivered."""
    producer = Producer({"bootstrap.servers": bootstrap, "compression.codec": codec,
                         "linger.ms": 50, "enable.idempotence": False})
    delivered: list[bool] = []
    for i in range(records):
        account = f"{codec}-acct-{i % 5}"
        doc = {"event_id": f"{codec}-{i}", "ts": 1_767_225_600.0 + i, "account_id": account,
               "model": "m", "input_tokens": 10, "output_tokens": 20,
               "prompt": f"implement a parser, variant {i}"}
        producer.produce(topic, key=account.encode(), value=orjson.dumps(doc),
                         on_delivery=lambda err, _msg: delivered.append(err is None))
    producer.flush(30)
    return sum(delivered)


def test_every_codec_is_consumed_and_counted(kafka_bootstrap: str, tmp_path: Path) -> None:
    settings = unique_settings(kafka_bootstrap, tmp_path / "data", warmup=10**9,
                               producer_compression="zstd")
    create_topics(settings)
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        sent = {codec: produce_compressed(kafka_bootstrap, settings.input_topic, codec,
                                          PER_CODEC) for codec in CODECS}
        assert sent == dict.fromkeys(CODECS, PER_CODEC)
        bad = Producer({"bootstrap.servers": kafka_bootstrap, "compression.codec": "lz4"})
        bad.produce(settings.input_topic, key=b"k", value=b"{not json")
        assert bad.flush(30) == 0
        wait_settled(settings, PER_CODEC * len(CODECS), worker, timeout=180)
        assert counted(settings) == PER_CODEC * len(CODECS)
        assert worker.alive, "the worker died"
    finally:
        worker.stop()
    assert "UnsupportedCodecError" not in worker.log()
    [dead] = read_topic(kafka_bootstrap, settings.dlq_topic)
    assert dead.value == b"{not json"
    assert dict(dead.headers)["x-dlq-reason"] == b"invalid_json"


def test_an_undecodable_batch_stalls_its_partition_and_says_where(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    hide = tmp_path / "no-codecs"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text("import sys\nsys.modules['cramjam'] = None\n")
    settings = unique_settings(kafka_bootstrap, tmp_path / "data", warmup=10**9)
    create_topics(settings)
    worker = WorkerProcess(settings, tmp_path / "worker.log",
                           extra_env={"PYTHONPATH": str(hide)}).start()
    ready = f"http://{settings.web_host}:{settings.web_port}/readyz"
    try:
        assert produce_compressed(kafka_bootstrap, settings.input_topic, "gzip", 30) == 30
        wait_until(lambda: counted(settings) == 30, timeout=120, what="30 gzip events",
                   worker=worker)
        assert produce_compressed(kafka_bootstrap, settings.input_topic, "zstd", 10) == 10
        assert produce_compressed(kafka_bootstrap, settings.input_topic, "gzip", 10) == 10
        wait_until(lambda: metric_values(settings, "distillguard_stalled_partitions") == [1.0],
                   timeout=60, what="the partition to stall", worker=worker)
        status, body = fetch(ready)
        assert status == 503
        assert orjson.loads(body)["stalled"] == [
            {"topic": settings.input_topic, "partition": 0, "offset": 30}]
        assert metric_values(settings, "distillguard_undecodable_batches_total") == [1.0]
        assert worker.alive and counted(settings) == 30
    finally:
        worker.stop()
    assert (f"cannot decode the batch at topic {settings.input_topic} partition 0 offset 30"
            in worker.log(200_000))
