"""The alerts of the benchmark streams, byte for byte, against a recorded fixture.

`tests/fixtures/benchmark_alerts.jsonl.gz` holds every alert `replay` gave on
the simulator's scenarios (account counts scaled by 0.05, the demo whole) at
commit 971d7a2, before the restructuring into one package and one detection
path. A refactor must leave them byte-identical. A change that means to alter
detection re-records the fixture (`python -m tests.models.test_benchmark_alerts`)
and says why in its commit.
"""

from __future__ import annotations

import gzip
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import orjson

from distillguard import simulator
from distillguard.models.replay import replay

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "benchmark_alerts.jsonl.gz"
SCALE = 0.05


def scenario_streams() -> Iterator[tuple[str, list[bytes]]]:
    """Each benchmark scenario's name and its records, scaled down (`SCALE`)."""
    for name, cfg in simulator.SCENARIOS.items():
        if name != "demo":
            cfg = replace(cfg, organic_accounts=max(20, int(cfg.organic_accounts * SCALE)),
                          hydra_accounts=max(5, int(cfg.hydra_accounts * SCALE)))
        yield name, [orjson.dumps(doc) for doc in simulator.generate(cfg)]


def scenario_alerts() -> Iterator[bytes]:
    """One JSON line per alert, each tagged with its scenario, in replay order."""
    for name, lines in scenario_streams():
        for alert in replay(lines):
            yield orjson.dumps({"scenario": name, "alert": alert})


def test_benchmark_stream_alerts_are_byte_identical() -> None:
    expected = gzip.decompress(FIXTURE.read_bytes()).splitlines()
    got = list(scenario_alerts())
    assert len(got) == len(expected), f"{len(got)} alerts, the fixture has {len(expected)}"
    for i, (line, want) in enumerate(zip(got, expected, strict=True)):
        assert line == want, f"alert {i} differs:\n got  {line!r}\n want {want!r}"


if __name__ == "__main__":
    with gzip.GzipFile(FIXTURE, "wb", mtime=0) as out:
        out.write(b"\n".join(scenario_alerts()) + b"\n")
    print(f"recorded {FIXTURE}", file=sys.stderr)
