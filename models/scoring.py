"""Turning an account's statistics into a 0..1 risk score with reasons.

The score is a logistic function of the interpretable signals plus one
population signal: how anomalous the account's feature vector is for a River
pipeline (`MinMaxScaler | HalfSpaceTrees`) that learns from every score tick
of every account on this worker. The population model only speaks after a
warm-up of `warmup` ticks, before which its trees have seen too little to
say what is normal.

Calibration: the logit's bias and weights (see `distillguard.models.signals.RAMPS`) are
set so that the machine-like signals alone (what batch pipelines and
server-side apps show) stay below 0.25, content signals of one kind reach
about 0.5, and the full extraction pattern exceeds 0.95. `benchmarks/`
measures how the resulting scores separate labelled simulated traffic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from river import anomaly, compose, preprocessing
from river.tree.padded import PaddedBranch

from distillguard.models.account_state import AccountState, features
from distillguard.models.compiled import NATIVE, twin
from distillguard.models.feedback import LabelModel
from distillguard.models.signals import Ramp, Signal, signals

if TYPE_CHECKING:
    from distillguard.models._native import Forest

#: logit bias: with no signal at all the score is sigmoid(-5) = 0.007
BIAS = -5.0
ANOMALY = Ramp(baseline=0.5, lo=0.7, hi=0.95, weight=1.0)
ANALYST = Ramp(baseline=0.1, lo=0.5, hi=0.9, weight=2.0)


@dataclass(frozen=True, slots=True)
class Score:
    """A risk score and the signals behind it, strongest contribution first."""

    value: float
    reasons: list[Signal]


class PopulationModel:
    """Unsupervised anomaly model of the accounts this worker sees.

    It lives in worker memory, never in a table: River objects are not plain
    records, and nothing is pickled into Kafka.
    """

    def __init__(self, warmup: int = 500, seed: int = 42) -> None:
        self.warmup = warmup
        self.learned = 0
        self._model = compose.Pipeline(
            preprocessing.MinMaxScaler(),
            anomaly.HalfSpaceTrees(n_trees=15, height=6, window_size=250, seed=seed),
        )
        #: the compiled twin, handed River's state after its first `learn_one` built the
        #: trees (River's own random draws); None: River's pipeline runs
        self._forest: Forest | None = None

    @property
    def warm(self) -> bool:
        """Whether warm-up is over, so that its anomaly score joins account scores."""
        return self.learned >= self.warmup

    def score_and_learn(self, x: dict[str, float]) -> float | None:
        """Anomaly score in 0..1 once warm (None before), then learn from `x`."""
        if self._forest is not None:
            score = self._forest.score(x) if self.warm else None
            self._forest.learn(x)
        else:
            score = self._model.score_one(x) if self.warm else None
            self._model.learn_one(x)
            if TWIN is not None:
                self._forest = _forest(TWIN, self._model)
        self.learned += 1
        return score


#: a tree node as `Forest` takes it: feature index (-1: a leaf), threshold, the children's
#: indices, l_mass, r_mass
Node = tuple[int, float, int, int, int, int]


def _forest(native: ModuleType, pipeline: compose.Pipeline) -> Forest:
    """River's scaler and trees, as they stand, in the compiled twin (`Forest`)."""
    scaler, hst = pipeline.steps.values()
    names = list(scaler.min)
    trees: list[list[Node]] = []
    for root in hst.trees:
        trees.append([])
        _flatten(root, names, trees[-1])
    forest: Forest = native.Forest(names, [scaler.min[n].get() for n in names],
                                   [scaler.max[n].get() for n in names], trees, hst.height,
                                   hst.window_size, hst.counter, hst._first_window)
    return forest


def _flatten(node: Any, names: list[str], nodes: list[Node]) -> int:
    """Append `node` and its subtree to `nodes` (depth first); its index there."""
    at = len(nodes)
    nodes.append((-1, 0.0, 0, 0, node.l_mass, node.r_mass))
    if isinstance(node, PaddedBranch):
        left = _flatten(node.children[0], names, nodes)
        right = _flatten(node.children[1], names, nodes)
        nodes[at] = (names.index(node.feature), node.threshold, left, right, node.l_mass,
                     node.r_mass)
    return at


#: the compiled extension the population model hands its trees to (None: River runs
#: throughout); `compiled.python_twin` sets it aside
TWIN = twin(__name__, "TWIN", NATIVE)


def score_account(state: AccountState, population: PopulationModel | None,
                  labels: LabelModel | None = None) -> Score:
    """Score one account on a tick: interpretable signals, population and label models."""
    sigs = signals(state)
    x = features(state)
    if population is not None:
        anomaly_score = population.score_and_learn(x)
        if anomaly_score is not None:
            sigs.append(Signal("population_anomaly", anomaly_score, ANOMALY.baseline,
                               ANOMALY.strength(anomaly_score), ANOMALY.weight))
    if labels is not None and (p := labels.probability(x)) is not None:
        sigs.append(Signal("analyst_label_model", p, ANALYST.baseline, ANALYST.strength(p),
                           ANALYST.weight))
    z = BIAS + sum([s.contribution for s in sigs])
    reasons = [s for s in sigs if s.contribution > 0]
    reasons.sort(key=lambda s: -s.contribution)
    return Score(1.0 / (1.0 + math.exp(-z)), reasons)
