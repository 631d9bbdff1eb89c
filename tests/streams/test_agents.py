"""The Faust agents under Faust's test context: no broker, real agents and table."""

from __future__ import annotations

from pathlib import Path
from unittest.mock import AsyncMock

import orjson
import pytest

from distillguard.models.events import parse_event
from distillguard.streams.settings import make_settings
from distillguard.streams.topology import Service, build_app


@pytest.fixture()
def service() -> Service:
    svc = build_app(make_settings(app_id="agent-test", store="memory://", partitions=4,
                                      warmup=10**9))
    svc.app.finalize()
    svc.app.conf.store = "memory://"
    svc.app.flow_control.resume()
    return svc


async def _delivered() -> None:
    """What awaiting a Faust delivery future gives once the broker acknowledged."""


def sent_and_acked() -> AsyncMock:
    """A topic `send` whose returned future resolves, like a healthy broker's."""
    return AsyncMock(side_effect=lambda **_: _delivered())


def event(i: int, account: str = "acct-1", **over: object) -> bytes:
    doc = {"event_id": f"e{i}", "ts": 1_767_225_600.0 + i, "account_id": account,
           "model": "m", "input_tokens": 10, "output_tokens": 20,
           "prompt": "Think step by step: implement a parser in python", **over}
    return orjson.dumps(doc)


async def test_ingest_forwards_valid_events_without_text(service: Service,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    forwarded, dead = AsyncMock(), AsyncMock()
    monkeypatch.setattr(service.events_topic, "send", forwarded)
    monkeypatch.setattr(service.dlq, "send", dead)
    async with service.ingest.test_context() as agent:
        await agent.put(event(1), key=b"acct-1")
    dead.assert_not_called()
    sent = forwarded.call_args.kwargs
    assert sent["partition"] == partition_of("acct-1")
    assert b"step by step" not in sent["value"]
    [forwarded_event] = orjson.loads(sent["value"])  # a pack of the batch's events
    assert forwarded_event["cot"] is True
    assert forwarded_event["src"] == [0, 0]  # the input position, for de-duplication


async def test_ingest_dead_letters_bad_records_and_keeps_going(
        service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    forwarded, dead = AsyncMock(), sent_and_acked()
    monkeypatch.setattr(service.events_topic, "send", forwarded)
    monkeypatch.setattr(service.dlq, "send", dead)
    async with service.ingest.test_context() as agent:
        await agent.put(b"{broken", key=b"k")
        await agent.put(event(2, input_tokens="many"), key=b"acct-1")
        await agent.put(event(3), key=None)
    reasons = [dict(c.kwargs["headers"])["x-dlq-reason"] for c in dead.call_args_list]
    assert reasons == [b"invalid_json", b"bad_type"]
    assert dead.call_args_list[0].kwargs["value"] == b"{broken"
    headers = dict(dead.call_args_list[1].kwargs["headers"])
    expected = {"x-dlq-error", "x-source-topic", "x-source-partition", "x-source-offset"}
    assert expected <= set(headers)
    assert forwarded.call_count == 1
    # to the account's partition although it came unkeyed
    assert forwarded.call_args.kwargs["partition"] == partition_of("acct-1")


def partition_of(account: str, partitions: int = 4) -> int:
    """Kafka's default partitioner, written out: murmur2 as the Java client computes it."""
    from aiokafka.partitioner import DefaultPartitioner

    return int(DefaultPartitioner()(account.encode(), list(range(partitions)),
                                    list(range(partitions))))


def pack(*raw: bytes) -> bytes:
    """Events as ingest forwards them: text-free, several in one internal message."""
    return orjson.dumps([orjson.loads(parse_event(r).to_wire()) for r in raw])  # type: ignore[union-attr]


async def test_score_agent_updates_table_once_per_event_id(
        service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service.alerts, "send", AsyncMock())
    monkeypatch.setattr(service.fingerprints_topic, "send", AsyncMock())  # membership ticks
    async with service.score.test_context() as agent:
        await agent.put(pack(event(1), event(2)))
        await agent.put(pack(event(3), event(2), event(3)))
    record = orjson.loads(service.accounts["acct-1"])  # the table holds orjson bytes
    assert record["n"] == 3
    assert orjson.loads(orjson.dumps(record)) == record  # plain, orjson-encodable record


async def test_dead_letter_refused_by_broker_still_leaves_a_trace(
        service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    from aiokafka.errors import MessageSizeTooLargeError

    async def refused() -> None:
        raise MessageSizeTooLargeError("too big for the broker")

    calls: list[dict[str, object]] = []

    def send(**kw: object) -> object:
        calls.append(kw)
        return refused() if len(calls) == 1 else _delivered()

    monkeypatch.setattr(service.dlq, "send", AsyncMock(side_effect=send))
    async with service.ingest.test_context() as agent:
        await agent.put(b"[1]", key=b"k")
    assert len(calls) == 2
    assert calls[1]["value"] == b""
    headers = dict(calls[1]["headers"])  # type: ignore[arg-type]
    assert headers["x-dlq-reason"] == b"not_object"
    assert b"could not be forwarded" in headers["x-dlq-error"]


async def test_feedback_routes_accounts_to_their_events_and_rejects_junk(
        service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    routed, links, dead = AsyncMock(), AsyncMock(), sent_and_acked()
    monkeypatch.setattr(service.events_topic, "send", routed)
    monkeypatch.setattr(service.links_topic, "send", links)
    monkeypatch.setattr(service.dlq, "send", dead)
    import distillguard.streams.wire as app_module

    async with service.feedback.test_context() as agent:
        await agent.put(orjson.dumps({"account_id": "acct-9", "label": "benign",
                                      "allowlist": True, "ts": 1.0, "source": "analyst"}))
        await agent.put(orjson.dumps({"campaign_id": "camp-1", "label": "benign",
                                      "allowlist": True, "ts": 1.0, "source": "analyst"}))
        await agent.put(b'{"label": "benign"}')
    assert routed.call_args.kwargs["key"] == b"acct-9"
    assert routed.call_args.kwargs["partition"] == partition_of("acct-9")
    assert routed.call_args.kwargs["value"].startswith(app_module.FEEDBACK_MARK)
    assert links.call_args.kwargs["value"].startswith(app_module.FEEDBACK_MARK)
    assert dict(dead.call_args.kwargs["headers"])["x-dlq-reason"] == b"missing_field"


async def test_allowlisted_account_stops_alerting(service: Service,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from distillguard.models.feedback import Feedback

    sent = AsyncMock()
    monkeypatch.setattr(service.alerts, "send", sent)
    monkeypatch.setattr(service.links_topic, "send", AsyncMock())
    monkeypatch.setattr(service.fingerprints_topic, "send", AsyncMock())
    import distillguard.streams.wire as app_module

    allow = Feedback("account", "acct-1", "benign", True, 0.0, "analyst")
    async with service.score.test_context() as agent:
        await agent.put(app_module.FEEDBACK_MARK + orjson.dumps(allow), key=b"acct-1")
        for account in ("acct-1", "acct-2"):  # same traffic; only acct-1 is allow-listed
            for i in range(60):
                await agent.put(pack(event(i, account, output_tokens=3000, max_tokens=3000,
                                           stop_reason="max_tokens", turns=1, task="coding")))
    record = orjson.loads(service.accounts["acct-1"])
    assert record["allow"] is True and record["n"] == 60
    alerted = {c.kwargs["key"] for c in sent.call_args_list}
    assert alerted == {b"acct-2"}


def in_partition(prefix: str, partition: int = 0) -> str:
    """An account name Kafka's partitioner sends to `partition` (the test context's only one)."""
    return next(name for i in range(1000) if partition_of(name := f"{prefix}-{i}") == partition)


async def test_idle_accounts_expire_by_event_time(service: Service,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """An account silent for longer than the horizon (in event time) leaves the table."""
    monkeypatch.setattr(service.alerts, "send", AsyncMock())
    monkeypatch.setattr(service.fingerprints_topic, "send", AsyncMock())
    old, busy = in_partition("old"), in_partition("busy")
    month = 30 * 86400.0
    async with service.score.test_context() as agent:
        await agent.put(pack(event(1, old), event(2, busy)))
        assert set(service.accounts) == {old, busy}
        await agent.put(pack(event(3, busy, ts=1_767_225_600.0 + month - 10)))
        assert set(service.accounts) == {old, busy}  # 10 s inside the horizon: kept
        await agent.put(pack(event(4, busy, ts=1_767_225_600.0 + month + 10)))
    assert set(service.accounts) == {busy}
    assert orjson.loads(service.accounts[busy])["n"] == 3


async def test_ticks_go_once_per_fingerprint_partition_and_fold_into_every_key(
        service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tick is sent once per partition of its keys, naming those keys; `aggregate` folds it
    into each, and still reads packs of the older one-key-per-entry form."""
    ticks = AsyncMock()
    monkeypatch.setattr(service.alerts, "send", AsyncMock())
    monkeypatch.setattr(service.fingerprints_topic, "send", ticks)
    client = {"ip": "203.0.113.7", "asn": 64500, "ja4": "t13d1516h2_8daaf6152771",
              "user_agent": "curl/8", "sdk": "py/1"}
    async with service.score.test_context() as agent:
        await agent.put(pack(*(event(i, payment_fp="card-1", account_created=1_767_000_000.0,
                                     client=client) for i in range(10))))
    sends = [(c.kwargs["partition"], orjson.loads(c.kwargs["value"])) for c in ticks.call_args_list]
    # the scored tick at event 10 (the membership ticks at events 1 and 3 ride along)
    [tick] = {orjson.dumps(doc): doc for _, entries in sends for _, doc in entries
              if doc["events"] == 10}.values()
    assert len(tick["keys"]) >= 6
    assert len({p for p, _ in sends}) == len(sends)  # one message per partition
    named = [key for p, entries in sends for keys, doc in entries for key in keys
             if doc == tick and partition_of(key) == p]
    assert sorted(named) == sorted(tick["keys"])  # every key once, on its own partition

    monkeypatch.setattr(service.links_topic, "send", AsyncMock())
    async with service.aggregate.test_context() as agent:
        for _, body in sends:
            await agent.put(orjson.dumps(body))
        await agent.put(orjson.dumps([["asn:1", tick]]))  # the older form: one key an entry
    folded = {key: sum(key in keys for _, entries in sends for keys, _ in entries)
              for key in tick["keys"]}  # the membership ticks name the same infrastructure
    for key in tick["keys"]:
        assert orjson.loads(service.fingerprints[key])["ticks"] == folded[key]
    assert orjson.loads(service.fingerprints["asn:1"])["ticks"] == 1


async def test_feedback_agent_with_a_key_dead_letters_unsigned_and_routes_signed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The key comes from a key file (`@FILE`), as a deployment would give it."""
    from distillguard.models.feedback import SIGNATURE_HEADER, feedback_record, sign

    key_file = tmp_path / "feedback.key"
    key_file.write_bytes(b"agent-test-key-0123456789abcdef\n")
    key = b"agent-test-key-0123456789abcdef"
    svc = build_app(make_settings(app_id="agent-test-signed", store="memory://", partitions=4,
                                  warmup=10**9, feedback_key=f"@{key_file}"))
    svc.app.finalize()
    svc.app.conf.store = "memory://"
    svc.app.flow_control.resume()
    routed, links, dead = AsyncMock(), AsyncMock(), sent_and_acked()
    monkeypatch.setattr(svc.events_topic, "send", routed)
    monkeypatch.setattr(svc.links_topic, "send", links)
    monkeypatch.setattr(svc.dlq, "send", dead)
    allow = feedback_record("account", "acct-9", "benign", 1.0, "analyst", allowlist=True)
    camp = feedback_record("campaign", "camp-1", "benign", 1.0, "analyst", allowlist=True)
    async with svc.feedback.test_context() as agent:
        await agent.put(allow)                                                  # unsigned
        await agent.put(camp, headers={SIGNATURE_HEADER: sign(b"guess", camp).encode()})
        await agent.put(allow, headers=[(SIGNATURE_HEADER, sign(key, allow).encode())])
    reasons = [dict(c.kwargs["headers"])["x-dlq-reason"] for c in dead.call_args_list]
    assert reasons == [b"bad_signature", b"bad_signature"]
    assert [c.kwargs["value"] for c in dead.call_args_list] == [allow, camp]
    links.assert_not_called()  # the forged campaign allow-list never reached the graph
    assert routed.call_count == 1 and routed.call_args.kwargs["key"] == b"acct-9"
