"""Account scoring, the detector's first step: an account's state, score ticks and alerts.

`AccountScorer.process` takes a validated event and the account's stored record
(or None), and returns the updated record and any alerts. The caller owns
storage: the Faust worker keeps records in a changelogged table, `replay`
in a dict. Both feed events in the same order, so both produce the same
alerts; the population model is the only state outside the records.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from distillguard.models.account_state import (
    RECENT_FEEDBACK,
    AccountState,
    features,
    seen_before,
    update,
)
from distillguard.models.alerts import build_alert
from distillguard.models.config import DetectorConfig
from distillguard.models.events import Event
from distillguard.models.feedback import Feedback, LabelModel
from distillguard.models.fingerprints import Tick, make_tick
from distillguard.models.scoring import PopulationModel, score_account

#: a new account's early events whose keys and provisional score (the rules alone) reach
#: the campaign layer before it is scored: a known campaign names its new members from
#: their first request, and accounts dropped before `min_events` still count in groups
MEMBERSHIP_TICKS = (1, 5)
MODEL_VERSION = "distillguard-0.2/logit-rules-2+hst+groups"


@dataclass(slots=True)
class Outcome:
    """What one event did: the record to store (None: unchanged) and alerts to send."""

    record: dict[str, Any] | None
    alerts: list[dict[str, Any]]
    duplicate: bool = False
    late: bool = False        # beyond the late tolerance: kept out of the timing statistics
    tick: Tick | None = None  # set when the event triggered a score tick


class AccountScorer:
    """Per-account scoring. `campaign_of` names an account's campaign for its alerts' evidence."""

    def __init__(self, config: DetectorConfig | None = None,
                 campaign_of: Callable[[str], str | None] | None = None) -> None:
        self.config = config or DetectorConfig()
        self.thresholds = self.config.thresholds()
        self.population = PopulationModel(warmup=self.config.warmup)
        self.labels = LabelModel()
        self.campaign_of = campaign_of

    def apply_feedback(self, fb: Feedback, record: dict[str, Any] | None) -> dict[str, Any]:
        """Record an analyst's word on an account; labels train the label model.

        Only analyst labels reach the label model, never the detector's own alerts.
        An allow-list is recorded with its source and time (`allow_src`, `allow_ts`);
        an `extraction` label lifts it, and the account's later alerts name it in their
        evidence. A record already applied (its digest among the account's last
        `RECENT_FEEDBACK`) changes nothing and returns `record` itself: replayed or
        redelivered feedback neither moves the state nor trains the model twice.
        """
        state = AccountState.from_dict(record) if record else AccountState()
        digest = fb.digest
        if record is not None and digest in state.fb_ids:
            return record
        state.fb_ids = [*state.fb_ids[-(RECENT_FEEDBACK - 1):], digest]
        state.label = fb.label
        if fb.allowlists:
            state.allow, state.sev = True, -1
            state.allow_src, state.allow_ts = fb.source, fb.ts
        elif fb.label == "extraction":
            state.allow = False
        if state.n:
            self.labels.learn(features(state), fb.label == "extraction")
        return state.as_dict()

    def process(self, ev: Event, record: dict[str, Any] | None) -> Outcome:
        """Apply one event to its account's stored record (None: a new account).

        A repeat changes nothing (`Outcome.duplicate`); otherwise the statistics are
        updated, and scored when a tick is due, which may alert and gives a `Tick`.
        """
        state = AccountState.from_dict(record) if record else AccountState()
        if seen_before(state, ev):
            return Outcome(None, [], duplicate=True)
        late = update(state, ev, self.config.late_tolerance)
        alerts: list[dict[str, Any]] = []
        tick = None
        if self._tick_due(state, ev.ts):
            tick = make_tick(ev, state, self._tick(state, ev, alerts))
        elif state.n in MEMBERSHIP_TICKS and state.n < self.config.min_events:
            early = 0.0 if state.allow else score_account(state, None, None).value
            tick = make_tick(ev, state, early, provisional=True)  # no alert before min_events
        return Outcome(state.as_dict(), alerts, late=late, tick=tick)

    def _tick_due(self, state: AccountState, ts: float) -> bool:
        cfg = self.config
        if state.n < cfg.min_events:
            return False
        return state.n - state.tick_n >= cfg.tick_events or ts - state.tick_ts >= cfg.tick_seconds

    def _tick(self, state: AccountState, ev: Event, alerts: list[dict[str, Any]]) -> float:
        state.tick_n, state.tick_ts = state.n, max(state.tick_ts, ev.ts)
        score = score_account(state, self.population, self.labels)
        state.score = score.value
        if state.allow:  # allow-listed: scored for the record, silent, and no campaign suspect
            return 0.0
        thresholds = self.thresholds
        if score.value < thresholds.reset_below:
            state.sev = -1
            return score.value
        sev = thresholds.severity(score.value)
        if sev > state.sev:
            if state.sev < 0:
                state.episode = ev.ts
            state.sev = sev
            alerts.append(build_alert(
                kind="account",
                subject=ev.account_id,
                accounts=[ev.account_id],
                account_count=1,
                score=score.value,
                severity=sev,
                episode_start=state.episode,
                reasons=score.reasons,
                evidence=self._evidence(state, ev.account_id),
                ts=ev.ts,
                first_seen=state.first,
                events_seen=state.n,
                model_version=MODEL_VERSION,
            ))
        return score.value


    def _evidence(self, state: AccountState, account: str) -> dict[str, Any]:
        """Fingerprints and counts an analyst can check; never text.

        An account that was allow-listed once (and, since it alerts, had that lifted by
        an `extraction` label) also shows who allow-listed it and when.
        """
        evidence: dict[str, Any] = {
            "window": [state.first, state.last],
            "top_templates": [{"template_fp": fp, "count": c} for fp, c in state.tpl],
            "system_fp": state.sys_fp or None,
            "campaign_id": self.campaign_of(account) if self.campaign_of else None,
        }
        if state.allow_ts is not None:
            evidence["allowlist"] = {"source": state.allow_src, "ts": state.allow_ts}
        return evidence
