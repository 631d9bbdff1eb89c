"""The whole detector as three steps over caller-owned storage: the one detection path.

0. `parse`: a raw record into an event, the prompt's content into the account's sample,
1. `score`: an account's event against its stored record (per account),
2. `aggregate`: a score tick into one fingerprint key's aggregate (per key),
3. `link`: a link from a key into the campaign graph (one place for all).

The Faust worker runs each step in the agent that owns its storage (a table
partitioned by account, one partitioned by key, the graph on the links
topic's one partition, see `distillguard.streams.handlers`); `Backtest`
(`distillguard.models.replay`) chains the same calls over dicts. Both build
the detector from one `DetectorConfig`, so every setting reaches both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from distillguard.models.accounts import MODEL_VERSION, AccountScorer, Outcome
from distillguard.models.campaigns import CampaignGraph, CampaignRule
from distillguard.models.config import DetectorConfig
from distillguard.models.content import ContentReference, ContentSampler
from distillguard.models.density import EdgeBurst
from distillguard.models.events import Event, Rejection, parse_event
from distillguard.models.feedback import Feedback
from distillguard.models.fingerprints import Link, Tick, fold

Record = dict[str, Any]


class Detector:
    """The detector's steps and the models they share; storage stays with the caller.

    `campaign_of` names an account's campaign in its alerts' evidence; by
    default the graph's own answer (the worker passes its global table's).
    """

    def __init__(self, config: DetectorConfig | None = None,
                 campaign_rule: CampaignRule | None = None,
                 campaign_of: Callable[[str], str | None] | None = None) -> None:
        self.config = config or DetectorConfig()
        self.graph = CampaignGraph(campaign_rule, MODEL_VERSION, self.config)
        self.accounts = AccountScorer(self.config, campaign_of or self.graph.campaign_of)
        self.link_rule = self.config.link_rule()
        self.density = EdgeBurst()  # in memory: sketches of the keys this process folds
        self.sampler = ContentSampler()  # in memory: unfinished chunks of sampled prompts
        self.reference = ContentReference()  # in memory: the content of the ticks folded here

    def parse(self, raw: bytes | None) -> Event | Rejection:
        """Step 0: validate one raw record; sampled prompt content goes to `sampler`."""
        return parse_event(raw, self.sampler)

    def score(self, ev: Event, record: Record | None) -> Outcome:
        """Step 1: one event of an account, against the account's stored record."""
        return self.accounts.process(ev, record)

    def aggregate(self, tick: Tick, key: str, record: Record | None,
                  offset: int = -1) -> tuple[Record, Link | None]:
        """Step 2: one tick into key's stored aggregate; the new record and any link.

        `offset` is the tick's position in its partition, for redelivery checks
        (`distillguard.models.fingerprints.applied`); -1 where there is none.
        """
        if tick.content and tick.established and key == tick.keys[0]:  # once per tick
            self.reference.update(tick.account, tick.content)
        return fold(record, key, tick, self.link_rule, self.density.score(key, tick.ts), offset,
                    self.reference)

    def link(self, link: Link) -> list[dict[str, Any]]:
        """Step 3: a link into the campaign graph; the campaign alerts it causes."""
        return self.graph.add(link)

    def account_feedback(self, fb: Feedback, record: Record | None) -> Record:
        """An analyst's word on an account, into its record (where its events are scored)."""
        return self.accounts.apply_feedback(fb, record)

    def graph_feedback(self, fb: Feedback) -> None:
        """An allow-list reaching the campaign graph: the account or campaign stops linking."""
        if not fb.allowlists:
            return
        if fb.subject_kind == "campaign":
            self.graph.allowlist(fb.subject)
        else:
            self.graph.remove_account(fb.subject, fb.source, fb.ts)
