"""Shared fixtures: the real Kafka broker the integration tests run against.

The broker is chosen as the README says: `KAFKA_BOOTSTRAP_SERVERS` if set;
else Apache Kafka from `deploy/kafka/launch.py` if `DISTILLGUARD_TEST_BROKER=apache`;
else a testcontainers Kafka if a Docker engine answers a ping (the docker
client being installed proves nothing); else the embedded Tansu broker.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


def _docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        return bool(client.ping())
    except Exception:  # no socket, no permission, no engine: all mean "no docker"
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    choice = os.environ.get("DISTILLGUARD_TEST_BROKER", "")
    if choice not in ("", "apache"):
        raise pytest.UsageError(f"DISTILLGUARD_TEST_BROKER={choice!r}: only 'apache' is known")
    if choice == "apache":  # Apache Kafka from Maven Central, run by deploy/kafka/launch.py
        from deploy.kafka.launch import KafkaBroker

        with KafkaBroker(tmp_path_factory.mktemp("apache-kafka")) as broker:
            yield broker.bootstrap_servers
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as kafka:
            yield kafka.get_bootstrap_server()
        return
    from distillguard.testing.broker import EmbeddedBroker

    with EmbeddedBroker() as broker:
        yield broker.bootstrap_servers
