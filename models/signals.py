"""Interpretable per-account signals: each a measured value, an organic baseline, a strength.

An analyst must be able to check why an account was flagged, so every signal
is one number from the account's statistics next to what organic traffic
typically shows, and a strength in 0..1 saying how far the value has moved
into extraction territory (a linear ramp between two documented points).

The weights separate two families. Content signals (chain-of-thought
elicitation, long outputs cut at `max_tokens`, templated prompts, coding and
agentic focus) are what distillers harvest and weigh most. Machine signals
(rate, 24/7 coverage, regular timing, single turn, no tools) are shared with
legitimate batch pipelines and server-side apps, so they weigh little: alone
they can never reach an alert.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from distillguard.models.account_state import AccountState, hour_coverage


@dataclass(slots=True)
class Signal:
    """One reason: `value` against `baseline`, `strength` 0..1, `weight` in the logit.

    Treated as immutable but not frozen: a frozen dataclass sets its fields
    through `object.__setattr__`, which makes it markedly slower to build, and
    every score tick builds a dozen.
    """

    name: str
    value: float
    baseline: float
    strength: float
    weight: float

    @property
    def contribution(self) -> float:
        """What the signal adds to the score's logit: `weight` times `strength`.

        >>> Signal("cot_elicitation", 0.5, 0.02, 0.5, 2.5).contribution
        1.25
        """
        return self.weight * self.strength


@dataclass(frozen=True, slots=True)
class Ramp:
    """Where a signal starts to count (`lo`) and where it is at full strength (`hi`).

    `hi < lo` means smaller values are more suspicious.
    """

    baseline: float
    lo: float
    hi: float
    weight: float

    def strength(self, value: float) -> float:
        """How far `value` has gone from `lo` towards `hi`, clipped to 0..1.

        >>> rising = Ramp(baseline=0.0, lo=1.0, hi=3.0, weight=1.0)
        >>> rising.strength(0.5), rising.strength(2.0), rising.strength(5.0)
        (0.0, 0.5, 1.0)
        >>> falling = Ramp(baseline=5.0, lo=3.0, hi=1.0, weight=1.0)  # smaller is worse
        >>> falling.strength(4.0), falling.strength(2.0), falling.strength(0.0)
        (0.0, 0.5, 1.0)
        """
        s = (value - self.lo) / (self.hi - self.lo)
        return min(1.0, max(0.0, s))


#: signal name -> (organic baseline, ramp start, ramp end, logit weight)
RAMPS: dict[str, Ramp] = {
    # content: what distillers harvest
    "cot_elicitation": Ramp(0.02, 0.15, 0.6, 2.5),
    # the same asks as evidence that accumulates: a share that is only suggestive over ten
    # requests is damning over fifty (a CUSUM in nats, `account_state.COT_UP`)
    "cot_evidence": Ramp(0.0, 20.0, 45.0, 3.0),
    "long_outputs": Ramp(300.0, 600.0, 2000.0, 1.5),
    "max_tokens_stops": Ramp(0.02, 0.05, 0.3, 1.0),
    "template_reuse": Ramp(0.1, 0.3, 0.8, 1.2),
    "coding_agentic_focus": Ramp(0.3, 0.5, 0.9, 1.2),
    # machine: shared with legitimate automation, so weak
    "request_rate_per_day": Ramp(40.0, 500.0, 3000.0, 0.5),
    "hour_coverage": Ramp(0.5, 0.7, 0.95, 0.5),
    "timing_regularity": Ramp(2.0, 1.2, 0.4, 0.5),
    "mean_turns": Ramp(4.0, 3.0, 1.2, 0.5),
    "tools_offered": Ramp(5.0, 1.0, 0.0, 0.5),
}


#: the signals of what an account takes from the model, not of how it is driven: batch
#: pipelines and server apps are machine-like too, and customers of one tool share its
#: template, so neither machine signals nor template reuse say "harvesting"
HARVEST = ("cot_elicitation", "long_outputs", "max_tokens_stops", "coding_agentic_focus")
_HARVEST_WEIGHT = sum(RAMPS[name].weight for name in HARVEST)
#: the most harvest shape coding focus alone gives: what an organic developer, or a batch
#: job whose coding share swings around half, can show without taking anything else
FOCUS_ONLY = RAMPS["coding_agentic_focus"].weight / _HARVEST_WEIGHT


def harvest_shape(state: AccountState) -> float:
    """How much an account's requests look like harvesting, 0..1: the HARVEST signals'
    weighted strength. A group's mean of it says whether accounts sharing a key take what
    distillers take (`distillguard.models.fingerprints`).

    >>> harvest_shape(AccountState())
    0.0
    """
    total = sum(RAMPS[name].weight * RAMPS[name].strength(value)
                for name, value in zip(HARVEST, _harvest_values(state), strict=True)
                if value is not None)
    return total / _HARVEST_WEIGHT


def _harvest_values(state: AccountState) -> tuple[float | None, ...]:
    """The HARVEST signals' values, in that order; None where unknown."""
    return (state.cot if state.cot_n else None, math.expm1(state.out_tok),
            state.max_stop if state.stop_n else None, state.focus if state.focus_n else None)


def signals(state: AccountState) -> list[Signal]:
    """The interpretable signals of one account, from its online statistics."""
    cot, long_outputs, max_stops, focus = _harvest_values(state)
    values = {
        "cot_elicitation": cot,
        "cot_evidence": state.cot_ev if state.cot_n else None,
        "long_outputs": long_outputs,
        "max_tokens_stops": max_stops,
        "template_reuse": state.tpl_reuse if state.text_n else None,
        "coding_agentic_focus": focus,
        "request_rate_per_day": state.r_day,
        "hour_coverage": hour_coverage(state),
        "timing_regularity": math.sqrt(state.gap_var) if state.gaps >= 5 else None,
        "mean_turns": math.exp(state.turns) if state.turns_n else None,
        "tools_offered": state.tools if state.tools_n else None,
    }
    out = []
    for name, value in values.items():
        if value is None:  # unknown is not evidence either way
            continue
        ramp = RAMPS[name]
        out.append(Signal(name, value, ramp.baseline, ramp.strength(value), ramp.weight))
    return out
