"""Analyst feedback: allow-lists and labels, and the supervised model they train.

Feedback records come from the suspension pipeline and analysts (contract:
`{"account_id" | "campaign_id", "label": "extraction" | "benign",
"allowlist": bool, "ts", "source"}`). `benign` with `allowlist: true`
suppresses an account's alerts from then on and takes it out of campaign
member lists (a research partner, a customer's batch pipeline).

Labels train `LabelModel`, an online logistic regression over the same
account features the population model sees. It learns only from analyst
labels, never from the detector's own alerts, so it cannot reinforce its own
mistakes; its output joins the score once it has seen both classes a few
times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import orjson
from river import compose, linear_model, optim, preprocessing

LABELS = ("extraction", "benign")


@dataclass(frozen=True, slots=True)
class Feedback:
    """One validated feedback record about an account or a campaign."""

    subject_kind: str        # "account" or "campaign"
    subject: str
    label: str
    allowlist: bool
    ts: float
    source: str

    @property
    def allowlists(self) -> bool:
        """Whether the record allow-lists its subject: only a `benign` label can."""
        return self.label == "benign" and self.allowlist


def parse_feedback(raw: bytes | None) -> Feedback | str:
    """A `Feedback`, or the reason the record is not one (never raises).

    >>> fb = parse_feedback(b'{"account_id": "acct-1", "label": "benign", "allowlist": true, '
    ...                     b'"ts": 1700000000}')
    >>> fb.subject_kind, fb.subject, fb.allowlists
    ('account', 'acct-1', True)
    >>> parse_feedback(b'{"account_id": "acct-1", "label": "spam", "ts": 1700000000}')
    'bad_value'
    """
    try:
        doc = orjson.loads(raw or b"")
    except orjson.JSONDecodeError:
        return "invalid_json"
    if not isinstance(doc, dict):
        return "not_object"
    kinds = [k for k in ("account_id", "campaign_id") if isinstance(doc.get(k), str) and doc[k]]
    if len(kinds) != 1:
        return "missing_field"
    label, allowlist, ts = doc.get("label"), doc.get("allowlist", False), doc.get("ts")
    if label not in LABELS or not isinstance(allowlist, bool):
        return "bad_value"
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts):
        return "bad_timestamp"
    source = doc.get("source")
    return Feedback("account" if kinds[0] == "account_id" else "campaign", doc[kinds[0]][:128],
                    label, allowlist, float(ts), source if isinstance(source, str) else "")


class LabelModel:
    """Supervised online model of analyst labels; speaks after `min_per_class` of each."""

    def __init__(self, min_per_class: int = 5) -> None:
        self.min_per_class = min_per_class
        self.seen = {True: 0, False: 0}
        self._model = compose.Pipeline(
            preprocessing.StandardScaler(),
            linear_model.LogisticRegression(optimizer=optim.SGD(0.1)),
        )

    @property
    def ready(self) -> bool:
        """Whether it has seen `min_per_class` labels of each class, and so speaks."""
        return min(self.seen.values()) >= self.min_per_class

    def learn(self, x: dict[str, float], extraction: bool) -> None:
        """Learn one analyst label from the labelled account's features."""
        self._model.learn_one(x, extraction)
        self.seen[extraction] += 1

    def probability(self, x: dict[str, float]) -> float | None:
        """Probability that features `x` are an extraction account's; None until `ready`."""
        if not self.ready:
            return None
        return float(self._model.predict_proba_one(x).get(True, 0.0))
