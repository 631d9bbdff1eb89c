"""Shared fixtures: the real Kafka broker the integration tests run against.

The broker is chosen as the README says: `KAFKA_BOOTSTRAP_SERVERS` if set;
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
def kafka_bootstrap() -> Iterator[str]:
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as kafka:
            yield kafka.get_bootstrap_server()
        return
    from streams.broker import EmbeddedBroker

    with EmbeddedBroker() as broker:
        yield broker.bootstrap_servers
