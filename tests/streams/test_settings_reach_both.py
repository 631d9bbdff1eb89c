"""Every detection setting reaches the worker and `distillguard replay` alike.

The worker runs with non-default link and threshold settings from its
environment; `distillguard replay` gets the same settings as flags. Both must
give the same alerts, and those alerts must differ from what the default
settings give (else the test would not show that the settings arrived).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from distillguard import simulator
from distillguard.models.config import DetectorConfig
from distillguard.models.replay import replay
from distillguard.streams.cli import main
from distillguard.streams.settings import DECLARED
from distillguard.testing.consume import read_topic
from distillguard.testing.processes import WorkerProcess
from distillguard.testing.produce import produce
from distillguard.testing.settings import create_topics, unique_settings
from tests.kafka_helpers import comparable_alerts, wait_settled

pytestmark = pytest.mark.integration

CFG = simulator.SimConfig(seed=23, days=2.0, organic_accounts=40, loud_accounts=1,
                          hydra_accounts=12)
#: far from the defaults: looser campaign links, lower and wider-spaced thresholds
CHANGED: dict[str, Any] = dict(member_score=0.2, link_min_accounts=3, link_min_share=0.3,
                               threshold_low=0.4, threshold_medium=0.6, threshold_high=0.8,
                               threshold_critical=0.9, reset_below=0.25, tick_events=7)


def test_worker_and_replay_run_the_same_non_default_settings(
        kafka_bootstrap: str, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    assert all(DECLARED[name].default != value for name, value in CHANGED.items())
    events = [orjson.dumps(doc) for doc in simulator.generate(CFG)]
    log = tmp_path / "input.jsonl"
    log.write_bytes(b"".join(e + b"\n" for e in events))

    flags = [arg for name, value in CHANGED.items()
             for arg in (DECLARED[name].flag, str(value))]
    assert main(["replay", str(log), *flags]) == 0
    replayed = [orjson.loads(line) for line in capsysbinary.readouterr().out.splitlines()]
    defaults = list(replay(events, DetectorConfig()))
    assert replayed != defaults, "the changed settings did not change replay's alerts"
    assert comparable_alerts(replayed, "campaign"), "no campaign alert under the changed rule"

    settings = unique_settings(kafka_bootstrap, tmp_path / "data", **CHANGED)
    create_topics(settings)
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        asyncio.run(produce(kafka_bootstrap, settings.input_topic,
                            [(orjson.loads(e)["account_id"].encode(), e) for e in events]))
        wait_settled(settings, len(events), worker, timeout=240)
        alerts = [orjson.loads(r.value) for r in read_topic(kafka_bootstrap,
                                                            settings.alerts_topic)]
    finally:
        worker.stop()
    for source in ("account", "member", "campaign"):
        assert comparable_alerts(alerts, source) == comparable_alerts(replayed, source)
