"""The campaign families through a real worker: it gives exactly the alerts `replay` gives.

Three families whose evidence takes the new paths run together on grammar text (so the
test needs no corpora): lockstep rounds (timing clusters linking by owners), accounts
dropped after about nine requests (early scores in group means) and rotated accounts
(cards linking new members from their first request). One partition, so the worker sees
the records in produce order, as replay does.
"""

from __future__ import annotations

import asyncio
import heapq
from dataclasses import replace
from operator import itemgetter
from pathlib import Path

import orjson
import pytest

from distillguard import simulator
from distillguard.models.replay import replay
from distillguard.testing.consume import read_topic
from distillguard.testing.processes import WorkerProcess
from distillguard.testing.produce import produce
from distillguard.testing.settings import create_topics, unique_settings
from tests.kafka_helpers import comparable_alerts, wait_settled

pytestmark = pytest.mark.integration

FAMILIES = {"lockstep": 21, "disposable": 22, "rotation": 23}  # family -> its seed


def family_events() -> list[dict]:
    streams = []
    for family, seed in FAMILIES.items():
        cfg = replace(simulator.CORPUS_SCENARIOS[family], text="grammar", seed=seed,
                      days=2.0, organic_accounts=60, hydra_accounts=30)
        streams.append(list(simulator.generate(cfg)))
    accounts = [{e["account_id"] for e in s} for s in streams]
    assert not set.intersection(*accounts), "the scenarios share account ids"
    return list(heapq.merge(*streams, key=itemgetter("ts")))


def test_worker_and_replay_give_the_same_alerts_on_the_families(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    settings = unique_settings(kafka_bootstrap, tmp_path / "data")
    create_topics(settings)
    events = family_events()
    records = [(e["account_id"].encode(), orjson.dumps(e)) for e in events]
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        asyncio.run(produce(kafka_bootstrap, settings.input_topic, records))
        wait_settled(settings, len(events), worker, timeout=300)
        alerts = [orjson.loads(r.value) for r in read_topic(kafka_bootstrap,
                                                            settings.alerts_topic)]
    finally:
        worker.stop()
    replayed = list(replay((value for _, value in records), settings.detection))
    truth = {e["account_id"]: e["sim_label"] for e in events}
    named = {a for alert in replayed for a in alert["accounts"]}
    assert {truth[a] for a in named} == {"extraction"}, "replay named an organic account"
    assert sum(alert["kind"] == "campaign" for alert in replayed) >= 3
    for source in ("account", "member", "campaign"):
        assert comparable_alerts(alerts, source) == comparable_alerts(replayed, source), source
