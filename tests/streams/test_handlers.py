"""The batch handlers without Faust: plain dicts for tables, lists for topics.

The same handlers run in the worker (`distillguard.streams.topology` wires
them to topics and tables); here one batch goes through ingest in place and
forwarded, and every step's output is checked where the next step reads it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from faust.types import Message

from distillguard.models.config import DetectorConfig
from distillguard.models.detector import Detector
from distillguard.streams.handlers import Handlers, Wiring
from distillguard.streams.wire import Partitioner

PARTITIONS = 2


class Topic:
    """Records what is sent to it; a send returns a delivered record's future."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send(self, **kwargs: Any) -> Any:
        self.sent.append(kwargs)
        delivered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        delivered.set_result(None)
        return delivered


class Table(dict[str, bytes]):
    """A dict with the one attribute the expiry sweeper reads."""

    name = "table"


def wiring(partition_count: int | None) -> Wiring:
    return Wiring(events=Topic(), fingerprints=Topic(), links=Topic(), alerts=Topic(),
                  dlq=Topic(), accounts_table=Table(), fingerprints_table=Table(),
                  campaign_of={}, partition_count=lambda topic: partition_count)


def message(offset: int, value: bytes, partition: int = 0) -> Message:
    return Message(topic="in", partition=partition, offset=offset, timestamp=0.0,
                   timestamp_type=0, headers=[], key=None, value=value, checksum=None)


def record(i: int, account: str) -> bytes:
    return orjson.dumps({"event_id": f"{account}-{i}", "ts": 1_767_225_600.0 + 60 * i,
                         "account_id": account, "model": "m", "input_tokens": 10,
                         "output_tokens": 20, "client": {"asn": 64500}})


def account_on(partition: int) -> str:
    of = Partitioner(PARTITIONS).of
    return next(a for i in range(100) if of((a := f"acct-{i}").encode()) == partition)


async def test_in_place_records_are_scored_in_the_ingest_batch() -> None:
    wired = wiring(partition_count=PARTITIONS)  # input co-partitioned with the tables
    handlers = Handlers(Detector(DetectorConfig(warmup=10**9)), wired, PARTITIONS, 0.0)
    account = account_on(0)
    await handlers.ingest([message(i, record(i, account)) for i in range(12)]
                          + [message(12, b"{not json")])
    assert wired.events.sent == []  # nothing forwarded: its state lives here
    state = orjson.loads(wired.accounts_table[account])
    assert state["n"] == 12
    [dead] = wired.dlq.sent
    assert dict(dead["headers"])["x-dlq-reason"] == b"invalid_json"
    ticks = [tick for sent in wired.fingerprints.sent for tick in orjson.loads(sent["value"])]
    assert ticks and all(keys for keys, _ in ticks)  # one tick at event 10, with its keys


async def test_forwarded_records_reach_their_account_through_the_events_topic() -> None:
    wired = wiring(partition_count=None)  # unknown: forward everything
    handlers = Handlers(Detector(DetectorConfig(warmup=10**9)), wired, PARTITIONS, 0.0)
    account = account_on(1)
    await handlers.ingest([message(i, record(i, account)) for i in range(12)])
    assert wired.accounts_table == {}
    [pack] = wired.events.sent
    assert pack["partition"] == 1 and b"prompt" not in pack["value"]
    await handlers.score([message(0, pack["value"], partition=1)])
    assert orjson.loads(wired.accounts_table[account])["n"] == 12
    [tick_pack] = wired.fingerprints.sent
    await handlers.aggregate([message(0, tick_pack["value"], partition=tick_pack["partition"])])
    assert "asn:64500" in wired.fingerprints_table
