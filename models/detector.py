"""The whole detector in one process: accounts, fingerprint aggregates, campaigns.

The worker runs the same three steps as three Faust agents connected by
topics (accounts keyed by account, aggregates keyed by fingerprint, the
campaign graph on one partition). `Detector` chains them with plain calls,
for `replay`, the benchmarks and tests; records live in dicts instead of
tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from distillguard.models.accounts import MODEL_VERSION, AccountScorer, DetectorConfig, Outcome
from distillguard.models.campaigns import CampaignGraph, CampaignRule
from distillguard.models.density import EdgeBurst
from distillguard.models.events import Event
from distillguard.models.feedback import Feedback
from distillguard.models.fingerprints import Link, LinkRule, Tick, fold


@dataclass(slots=True)
class Step:
    """What one event did across the pipeline."""

    outcome: Outcome
    campaign_alerts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def alerts(self) -> list[dict[str, Any]]:
        return self.outcome.alerts + self.campaign_alerts


def links_for(tick: Tick, aggregates: dict[str, dict[str, Any]], rule: LinkRule,
              density: EdgeBurst) -> list[Link]:
    """Update every aggregate the tick names (a dict stands in for the table)."""
    links = []
    for key in tick.keys:
        burst = density.score(key, tick.ts)
        aggregates[key], link = fold(aggregates.get(key), key, tick, rule, burst)
        if link is not None:
            links.append(link)
    return links


class Detector:
    def __init__(self, config: DetectorConfig | None = None, link_rule: LinkRule | None = None,
                 campaign_rule: CampaignRule | None = None) -> None:
        self.graph = CampaignGraph(campaign_rule, MODEL_VERSION)
        self.detector = AccountScorer(config, campaign_of=self.graph.campaign_of)
        self.link_rule = link_rule or LinkRule()
        self.accounts: dict[str, dict[str, Any]] = {}
        self.aggregates: dict[str, dict[str, Any]] = {}
        self.density = EdgeBurst()

    def feedback(self, fb: Feedback) -> None:
        """Apply an analyst's feedback, as the worker's feedback agent does."""
        if fb.subject_kind == "campaign":
            if fb.allowlists:
                self.graph.allowlist(fb.subject)
            return
        self.accounts[fb.subject] = self.detector.apply_feedback(fb, self.accounts.get(fb.subject))
        if fb.allowlists:
            self.graph.remove_account(fb.subject)

    def process(self, ev: Event) -> Step:
        outcome = self.detector.process(ev, self.accounts.get(ev.account_id))
        if outcome.record is not None:
            self.accounts[ev.account_id] = outcome.record
        step = Step(outcome)
        if outcome.tick is not None:
            for link in links_for(outcome.tick, self.aggregates, self.link_rule, self.density):
                step.campaign_alerts.extend(self.graph.add(link))
        return step
