"""Backtesting without Kafka: the worker's detector over a JSON-lines log.

Records go through the same parsing and the same `Detector` steps as in the
worker, in file order, with dicts where the worker has tables. For a log fed
to the worker through one partition in the same order, the account alerts
and the campaign alerts are the same (the worker interleaves the two streams
differently, and the campaign id in an account alert's evidence depends on
how far the campaign agent has got).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from distillguard.models.accounts import Outcome
from distillguard.models.config import DetectorConfig
from distillguard.models.detector import Detector, Record
from distillguard.models.events import Event, Rejection
from distillguard.models.feedback import Feedback


@dataclass(slots=True)
class Step:
    """What one event did across the detector."""

    outcome: Outcome
    campaign_alerts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def alerts(self) -> list[dict[str, Any]]:
        """Every alert of the step: the account's first, then the campaign alerts."""
        return self.outcome.alerts + self.campaign_alerts


class Backtest:
    """The detector's steps chained in one process over dicts: replay, benchmarks, tests."""

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.detector = Detector(config)
        self.accounts: dict[str, Record] = {}
        self.aggregates: dict[str, Record] = {}

    def feedback(self, fb: Feedback) -> None:
        """Apply an analyst's feedback, as the worker's feedback agent routes it."""
        if fb.subject_kind == "account":
            self.accounts[fb.subject] = self.detector.account_feedback(
                fb, self.accounts.get(fb.subject))
        self.detector.graph_feedback(fb)

    def process(self, ev: Event) -> Step:
        """One event through all three steps."""
        outcome = self.detector.score(ev, self.accounts.get(ev.account_id))
        if outcome.record is not None:
            self.accounts[ev.account_id] = outcome.record
        step = Step(outcome)
        if outcome.tick is not None:
            for key in outcome.tick.keys:
                self.aggregates[key], link = self.detector.aggregate(
                    outcome.tick, key, self.aggregates.get(key))
                if link is not None:
                    step.campaign_alerts.extend(self.detector.link(link))
        return step


@dataclass
class ReplayStats:
    """What a replay saw: accepted, duplicate and rejected records by reason."""

    accepted: int = 0
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)


def replay(lines: Iterable[bytes], config: DetectorConfig | None = None,
           stats: ReplayStats | None = None,
           backtest: Backtest | None = None) -> Iterator[dict[str, Any]]:
    """Yield the alerts the worker would send for these records, in order."""
    backtest = backtest or Backtest(config)
    stats = stats if stats is not None else ReplayStats()
    for line in lines:
        line = line.rstrip(b"\r\n")
        if not line.strip():
            continue
        parsed = backtest.detector.parse(line)
        if isinstance(parsed, Rejection):
            stats.rejected[parsed.reason] += 1
            continue
        step = backtest.process(parsed)
        if step.outcome.duplicate:
            stats.duplicates += 1
            continue
        stats.accepted += 1
        yield from step.alerts
