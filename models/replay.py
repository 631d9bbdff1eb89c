"""Backtesting without Kafka: the worker's detector over a JSON-lines log.

Records go through the same parsing and the same `Detector` steps as in the
worker, in file order. For a log fed to the worker through one partition in
the same order, the account alerts and the campaign alerts are the same
(the worker interleaves the two streams differently, and the campaign id in
an account alert's evidence depends on how far the campaign agent has got).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from distillguard.models.accounts import DetectorConfig
from distillguard.models.detector import Detector
from distillguard.models.events import Rejection, parse_event


@dataclass
class ReplayStats:
    """What a replay saw: accepted, duplicate and rejected records by reason."""

    accepted: int = 0
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)


def replay(lines: Iterable[bytes], config: DetectorConfig | None = None,
           stats: ReplayStats | None = None,
           pipeline: Detector | None = None) -> Iterator[dict[str, Any]]:
    """Yield the alerts the worker would send for these records, in order."""
    pipeline = pipeline or Detector(config)
    stats = stats if stats is not None else ReplayStats()
    for line in lines:
        line = line.rstrip(b"\r\n")
        if not line.strip():
            continue
        parsed = parse_event(line)
        if isinstance(parsed, Rejection):
            stats.rejected[parsed.reason] += 1
            continue
        step = pipeline.process(parsed)
        if step.outcome.duplicate:
            stats.duplicates += 1
            continue
        stats.accepted += 1
        yield from step.alerts
