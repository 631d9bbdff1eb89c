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
from distillguard.models.fingerprints import Tick
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
    tick_packs = wired.fingerprints.sent
    assert tick_packs
    for i, tick_pack in enumerate(tick_packs):
        await handlers.aggregate([message(i, tick_pack["value"],
                                          partition=tick_pack["partition"])])
    assert "asn:64500" in wired.fingerprints_table


def signed_message(offset: int, value: bytes, headers: list[tuple[str, bytes]]) -> Message:
    return Message(topic="feedback", partition=0, offset=offset, timestamp=0.0,
                   timestamp_type=0, headers=headers, key=None, value=value, checksum=None)


def sample(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_with_a_key_only_signed_feedback_applies() -> None:
    """Unsigned and badly signed feedback is dead-lettered as bad_signature, counted, and
    changes nothing; the signed record is routed, applied once, and unlinks the account."""
    from distillguard.models.feedback import SIGNATURE_HEADER, feedback_record, sign
    from distillguard.streams.wire import FEEDBACK_MARK

    key = b"k" * 32
    wired = wiring(partition_count=PARTITIONS)
    handlers = Handlers(Detector(DetectorConfig(warmup=10**9)), wired, PARTITIONS, 0.0,
                        feedback_key=key)
    account = account_on(0)
    await handlers.ingest([message(i, record(i, account)) for i in range(12)])
    before = dict(wired.accounts_table)
    allow = feedback_record("account", account, "benign", 1_767_226_400.0, "alice",
                            allowlist=True)
    rejected = sample("distillguard_feedback_total", result="rejected")
    dead = sample("distillguard_dead_letters_total", reason="bad_signature")
    benign = sample("distillguard_feedback_total", result="benign")

    await handlers.feedback(signed_message(0, allow, []))
    await handlers.feedback(signed_message(1, allow, [(SIGNATURE_HEADER,
                                                       sign(b"not the key", allow).encode())]))
    await handlers.feedback(signed_message(2, b"{junk", [(SIGNATURE_HEADER, b"zz")]))
    letters = [dict(d["headers"]) for d in wired.dlq.sent]
    assert [h["x-dlq-reason"] for h in letters] == [b"bad_signature"] * 3
    assert [d["value"] for d in wired.dlq.sent] == [allow, allow, b"{junk"]  # bytes unchanged
    assert [h["x-source-offset"] for h in letters] == [b"0", b"1", b"2"]
    assert b"no x-distillguard-signature" in letters[0]["x-dlq-error"]
    assert b"does not match" in letters[1]["x-dlq-error"]
    assert all(key not in h["x-dlq-error"] for h in letters)
    assert wired.events.sent == [] and wired.links.sent == []  # nothing routed
    assert wired.accounts_table == before                      # nothing changed
    assert sample("distillguard_feedback_total", result="rejected") == rejected + 3
    assert sample("distillguard_dead_letters_total", reason="bad_signature") == dead + 3
    assert sample("distillguard_feedback_total", result="benign") == benign

    await handlers.feedback(signed_message(3, allow, [(SIGNATURE_HEADER,
                                                       sign(key, allow).encode())]))
    assert len(wired.dlq.sent) == 3
    assert sample("distillguard_feedback_total", result="benign") == benign + 1
    [routed] = wired.events.sent
    assert routed["partition"] == 0 and routed["value"].startswith(FEEDBACK_MARK)
    await handlers.score([message(100, routed["value"])])
    state = orjson.loads(wired.accounts_table[account])
    assert (state["allow"], state["allow_src"], state["allow_ts"]) == \
        (True, "alice", 1_767_226_400.0)
    assert state["n"] == 12 and len(state["fb_ids"]) == 1
    [unlink] = wired.links.sent
    assert unlink["value"].startswith(FEEDBACK_MARK)
    assert handlers.fold_link(unlink["value"]) == []  # the graph reads it

    # a redelivery after a crash: the same record again is not even written back
    stored = wired.accounts_table[account]
    await handlers.score([message(100, routed["value"])])
    assert wired.accounts_table[account] is stored
    assert handlers.detector.accounts.labels.seen == {True: 0, False: 1}


async def test_without_a_key_unsigned_feedback_still_applies() -> None:
    from distillguard.models.feedback import feedback_record

    wired = wiring(partition_count=PARTITIONS)
    handlers = Handlers(Detector(DetectorConfig(warmup=10**9)), wired, PARTITIONS, 0.0)
    allow = feedback_record("account", "acct-7", "benign", 1.0, "alice", allowlist=True)
    await handlers.feedback(signed_message(0, allow, []))
    assert wired.dlq.sent == [] and len(wired.events.sent) == 1


async def test_a_batchs_links_go_packed_and_fold_as_single_links_did() -> None:
    """The aggregate step sends a batch's links as one pack; the graph folds a pack as it
    folds the one-link records older workers wrote (the links topic's history keeps them)."""
    wired = wiring(partition_count=PARTITIONS)
    handlers = Handlers(Detector(DetectorConfig(warmup=10**9)), wired, PARTITIONS, 0.0)
    ticks = [Tick(f"c{i}", 1_767_225_600.0 + i, 0.9, 20, ("pay:pm-shared",), True)
             for i in range(12)]
    await handlers.aggregate([message(0, orjson.dumps([[list(t.keys), t] for t in ticks]))])
    [sent] = wired.links.sent
    links = orjson.loads(sent["value"])
    assert len(links) > 1 and all(link["key"] == "pay:pm-shared" for link in links)
    single = Handlers(Detector(DetectorConfig(warmup=10**9)), wiring(PARTITIONS), PARTITIONS,
                      0.0)
    one_by_one = [alert for link in links for alert in single.fold_link(orjson.dumps(link))]
    packed = handlers.fold_link(sent["value"])
    assert packed and packed == one_by_one
    assert handlers.detector.graph.campaigns() == single.detector.graph.campaigns()
    assert wired.campaign_of == single.wiring.campaign_of != {}
