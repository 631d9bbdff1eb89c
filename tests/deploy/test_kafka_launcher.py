"""deploy/kafka/launch.py's pure parts (no Java, no broker)."""

from __future__ import annotations

import uuid

import pytest

from deploy.kafka import launch


def test_cluster_ids_never_start_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    """kafka-storage reads `-t -abc...` as an option: such an id failed CI's broker start."""
    draws = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)),  # base64 "-AAAA...": redrawn
                  uuid.UUID(bytes=b"\x00" * 16)])
    monkeypatch.setattr(launch.uuid, "uuid4", lambda: next(draws))
    assert launch.new_cluster_id() == "A" * 22


def test_cluster_ids_are_kafka_shaped() -> None:
    ids = {launch.new_cluster_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)
