"""Backtesting without Kafka: the worker's detector over a JSON-lines log.

Records go through the same parsing and the same `Detector` as in the
worker, in file order, with account records kept in a dict instead of a
table; so for a log fed to the worker through one partition in the same
order, the alerts are the same.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from models.detector import Detector, DetectorConfig
from models.events import Rejection, parse_event


@dataclass
class ReplayStats:
    """What a replay saw: accepted, duplicate and rejected records by reason."""

    accepted: int = 0
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    scores: dict[str, float] = field(default_factory=dict)


def replay(lines: Iterable[bytes], config: DetectorConfig | None = None,
           stats: ReplayStats | None = None) -> Iterator[dict[str, Any]]:
    """Yield the alerts the worker would send for these records, in order."""
    detector = Detector(config)
    records: dict[str, dict[str, Any]] = {}
    stats = stats if stats is not None else ReplayStats()
    for line in lines:
        line = line.rstrip(b"\r\n")
        if not line.strip():
            continue
        parsed = parse_event(line)
        if isinstance(parsed, Rejection):
            stats.rejected[parsed.reason] += 1
            continue
        outcome = detector.process(parsed, records.get(parsed.account_id))
        if outcome.duplicate:
            stats.duplicates += 1
            continue
        stats.accepted += 1
        assert outcome.record is not None
        records[parsed.account_id] = outcome.record
        if outcome.scored is not None:
            stats.scores[parsed.account_id] = outcome.scored
        yield from outcome.alerts
