"""End to end through a real broker: produce traffic and bad records, read alerts and DLQ back.

One worker process runs against the broker the `kafka_bootstrap` fixture
chose. The same records, in the same order, are then replayed without Kafka
and must give exactly the same alerts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from distillguard import simulator
from distillguard.models.replay import replay
from distillguard.testing.consume import read_topic
from distillguard.testing.metrics import fetch
from distillguard.testing.processes import WorkerProcess
from distillguard.testing.produce import produce
from distillguard.testing.settings import create_topics, unique_settings
from tests.kafka_helpers import comparable_alerts, latest_records, wait_settled, wait_until

pytestmark = pytest.mark.integration

CFG = simulator.SimConfig(seed=11, days=2.0, organic_accounts=40, loud_accounts=1,
                          hydra_accounts=8)
MARKER = "PRIVATE-MARKER-7f3a9c"

GOOD = {"event_id": "bad-base", "ts": 1_767_300_000.0, "account_id": "acct-dlq",
        "model": "frontier-4", "input_tokens": 10, "output_tokens": 10}
#: (expected dead-letter reason, raw record) - one of each kind the contract names, and more
BAD: list[tuple[str, bytes]] = [
    ("invalid_json", b'{"event_id": "x", '),
    ("invalid_json", b'{"event_id": "\xff\xfe"}'),
    ("not_object", b'["an", "array"]'),
    ("missing_field", orjson.dumps({k: v for k, v in GOOD.items() if k != "model"})),
    ("bad_type", orjson.dumps({**GOOD, "input_tokens": "ten"})),
    ("bad_value", orjson.dumps({**GOOD, "output_tokens": -3})),
    ("bad_value", orjson.dumps({**GOOD, "account_id": "acct\u0007bell"})),
    ("bad_timestamp", orjson.dumps({**GOOD, "ts": "last tuesday"})),
    ("bad_timestamp", orjson.dumps({**GOOD, "ts": 99_999_999_999.0})),
    ("too_large", orjson.dumps({**GOOD, "prompt": "x" * (1 << 20)})),
]


def build_input() -> list[tuple[bytes | None, bytes]]:
    """(key, value) records in produce order: simulated traffic, bad records, redeliveries."""
    events = list(simulator.generate(CFG))
    records: list[tuple[bytes | None, bytes]] = []
    third = len(events) // 3
    for i, ev in enumerate(events):
        if i == third:
            records.extend((b"k" if n % 2 else None, raw) for n, (_, raw) in enumerate(BAD))
        if i % 97 == 0:  # the key may be absent: the worker re-keys by account itself
            records.append((None, orjson.dumps(ev)))
        else:
            records.append((ev["account_id"].encode(), orjson.dumps(ev)))
        if i % 50 == 0 and i:  # an at-least-once gateway redelivers now and then
            records.append((ev["account_id"].encode(), orjson.dumps(ev)))
    private = {**events[0], "event_id": "private-1", "prompt": f"hello {MARKER}",
               "system": f"sys {MARKER}"}
    records.append((private["account_id"].encode(), orjson.dumps(private)))
    return records


@pytest.fixture(scope="module")
def run(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("e2e")
    settings = unique_settings(kafka_bootstrap, tmp / "data")
    create_topics(settings)
    worker = WorkerProcess(settings, tmp / "worker.log").start()
    records = build_input()
    try:
        asyncio.run(produce(kafka_bootstrap, settings.input_topic, records))
        distinct = {orjson.loads(v)["event_id"] for _, v in records
                    if not any(v == raw for _, raw in BAD)}
        wait_settled(settings, len(distinct), worker, timeout=240)
        alive = worker.alive
        web = f"http://{settings.web_host}:{settings.web_port}"
        wait_until(lambda: b"distillguard_tracked_accounts " in fetch(web + "/metrics")[1]
                   and fetch(web + "/metrics")[1].count(b"consumer_lag_messages{") > 0,
                   timeout=30, what="sampled gauges", worker=worker)
        yield {
            "web": {path: fetch(web + path) for path in ("/metrics", "/healthz", "/readyz")},
            "settings": settings, "records": records, "distinct": distinct, "alive": alive,
            "alerts": [orjson.loads(r.value) for r in read_topic(kafka_bootstrap,
                                                                 settings.alerts_topic)],
            "dlq": read_topic(kafka_bootstrap, settings.dlq_topic),
            "table": latest_records(settings),
            "events_topic": read_topic(kafka_bootstrap, settings.events_topic),
        }
    finally:
        worker.stop()


def test_extraction_accounts_alert_with_reasons(run: dict[str, Any]) -> None:
    truth = simulator.ground_truth(CFG)
    loud = {a for a, label in truth.items() if label == "extraction"}
    alerted = {a["subject"] for a in run["alerts"]}
    assert loud & alerted, "no extraction account alerted"
    for alert in run["alerts"]:
        if alert["kind"] == "account":
            assert alert["accounts"] == [alert["subject"]] and alert["account_count"] == 1
        assert alert["reasons"], "alert without reasons"
        for reason in alert["reasons"]:
            assert set(reason) == {"signal", "value", "baseline", "contribution"}
        assert alert["action"] in {"observe", "throttle", "challenge", "suspend"}
        assert 0 <= alert["score"] <= 1


def test_no_organic_account_alerts(run: dict[str, Any]) -> None:
    truth = simulator.ground_truth(CFG)
    named = {account for a in run["alerts"] for account in a["accounts"]}
    assert not sorted(a for a in named if truth.get(a) == "organic")


def test_bad_records_dead_lettered_with_reason_and_worker_survives(run: dict[str, Any]) -> None:
    assert run["alive"], "the worker died"
    dlq = run["dlq"]
    got = [(dict(r.headers)["x-dlq-reason"].decode(), r.value) for r in dlq]
    assert sorted(got) == sorted(BAD)  # original bytes unchanged, right reason each
    assert len({reason for reason, _ in got}) >= 6
    source_offsets = set()
    for r in dlq:
        h = dict(r.headers)
        assert h["x-source-topic"].decode() == run["settings"].input_topic
        assert h["x-dlq-error"]
        source_offsets.add(int(h["x-source-offset"]))
    assert len(source_offsets) == len(BAD)


def test_redelivered_events_count_once(run: dict[str, Any]) -> None:
    counted = sum(r["n"] for r in run["table"].values())
    assert counted == len(run["distinct"])


def test_prompt_text_never_leaves_memory(run: dict[str, Any]) -> None:
    marker = MARKER.encode()
    for r in run["events_topic"]:
        assert marker not in r.value
    assert marker not in orjson.dumps(run["table"])
    assert marker not in orjson.dumps(run["alerts"])


def test_replay_gives_the_same_alerts_as_the_worker(run: dict[str, Any], tmp_path: Path) -> None:
    log = tmp_path / "input.jsonl"
    log.write_bytes(b"".join(value + b"\n" for _, value in run["records"]))
    with log.open("rb") as fh:
        replayed = list(replay(fh, run["settings"].detection))
    assert replayed, "replay produced no alerts"

    for source in ("account", "member"):
        assert comparable_alerts(replayed, source) == comparable_alerts(run["alerts"], source)
    worker_campaigns = comparable_alerts(run["alerts"], "campaign")
    for mine, theirs in zip(comparable_alerts(replayed, "campaign"), worker_campaigns, strict=True):
        assert mine == theirs, {k: (mine[k], theirs[k]) for k in mine if mine[k] != theirs[k]}


def test_hydra_accounts_form_one_campaign(run: dict[str, Any]) -> None:
    truth = simulator.ground_truth(CFG)
    hydra = {a for a, label in truth.items() if label == "extraction"} - {
        a["subject"] for a in run["alerts"] if a["kind"] == "account" and a["events_seen"] > 1000}
    campaign_alerts = [a for a in run["alerts"] if a["kind"] == "campaign"]
    assert campaign_alerts, "no campaign alert"
    assert len({a["subject"] for a in campaign_alerts}) == 1
    named = {account for a in campaign_alerts for account in a["accounts"]}
    assert named <= {a for a, label in truth.items() if label == "extraction"}
    assert len(named & hydra) >= 5
    worst = max(campaign_alerts, key=lambda a: a["score"])
    assert worst["account_count"] == len(worst["accounts"])
    assert worst["evidence"]["linking_keys"]


def test_metrics_and_health_endpoints(run: dict[str, Any]) -> None:
    status, body = run["web"]["/metrics"]
    assert status == 200
    text = body.decode()
    for name in ("distillguard_ingest_records_total", "distillguard_dead_letters_total",
                 "distillguard_events_processed_total", "distillguard_alerts_total",
                 "distillguard_account_score_bucket", "distillguard_build_info",
                 "distillguard_consumer_lag_messages", "distillguard_tracked_accounts",
                 "distillguard_event_time_lag_seconds", "distillguard_model_warm"):
        assert name in text, name
    accepted = [line for line in text.splitlines()
                if line.startswith('distillguard_ingest_records_total{result="accepted"}')]
    assert accepted and float(accepted[0].split()[-1]) > 1000
    assert MARKER not in text and "acct-" not in text  # no prompt text, no account labels
    assert run["web"]["/healthz"][0] == 200
    assert run["web"]["/readyz"][0] == 200


def test_worker_creates_its_internal_topics_first(kafka_bootstrap: str, tmp_path: Path) -> None:
    """Created before Faust starts, so a first rebalance cannot ignore a missing topic."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
    from aiokafka.errors import KafkaConnectionError

    from distillguard.streams.admin import ensure_topics, internal_topics
    from distillguard.streams.topology import build_app

    settings = unique_settings(kafka_bootstrap, tmp_path, partitions=3)
    specs = internal_topics(build_app(settings).app)
    app_id = settings.app_id
    assert {name: s.partitions for name, s in specs.items()} == {
        f"{app_id}-events": 3, f"{app_id}-fingerprints": 3, f"{app_id}-links": 1,
        f"{app_id}-accounts-changelog": 3, f"{app_id}-fingerprints-changelog": 3,
        f"{app_id}-campaign-of-changelog": 1, f"{app_id}-__assignor-__leader": 1}

    async def create_and_describe() -> tuple[list[str], list[str], dict[str, int]]:
        first = await ensure_topics(kafka_bootstrap, specs)
        again = await ensure_topics(kafka_bootstrap, specs)  # idempotent
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            described = await admin.describe_topics(list(specs))
        finally:
            await admin.close()
        return first, again, {t["topic"]: len(t["partitions"]) for t in described}

    async def cleanup_policies() -> dict[str, str] | None:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            responses = await admin.describe_configs([
                ConfigResource(ConfigResourceType.TOPIC, name, {"cleanup.policy": None})
                for name in specs])
        except KafkaConnectionError:  # the embedded Tansu broker has no DescribeConfigs
            return None
        finally:
            await admin.close()
        return {res[3]: cfg[1] for response in responses for res in response.resources
                for cfg in res[4] if cfg[0] == "cleanup.policy"}

    first, again, partitions = asyncio.run(create_and_describe())
    assert sorted(first) == sorted(specs) and again == []
    assert partitions == {name: s.partitions for name, s in specs.items()}
    policy = asyncio.run(cleanup_policies())
    if policy is not None:  # changelogs compacted, as Faust makes them
        for name in specs:
            assert policy[name] == ("compact" if name.endswith("-changelog") else "delete"), name

def test_worker_without_broker_exits_1_saying_why(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from distillguard.streams import cli
    from distillguard.testing.broker import free_port

    monkeypatch.setattr(cli, "BROKER_WAIT_SECONDS", 0.0)
    address = f"127.0.0.1:{free_port()}"
    assert cli.main(["worker", "--bootstrap-servers", address]) == 1
    err = capsys.readouterr().err
    assert f"cannot reach the Kafka broker at {address}" in err
