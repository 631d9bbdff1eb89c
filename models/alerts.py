"""Alert records as the contract defines them, and their severity episodes.

An alert is sent once per subject per severity episode: when a score first
reaches a severity, and again only when it climbs to a higher one. The
episode ends when the score falls below `reset_below`, so a later relapse
opens a new episode with new ids. The id hashes subject, severity and the
event time the episode began, so a replay or a redelivery recomputes the same
id and consumers can deduplicate on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from distillguard.models.signals import Signal
from distillguard.models.text_signals import fingerprint

SEVERITIES = ("low", "medium", "high", "critical")
#: the recommended response of each severity, in rising order of force
ACTIONS = ("observe", "throttle", "challenge", "suspend")


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Score at which each severity starts, and below which an episode ends.

    Built by `DetectorConfig.thresholds`, which declares and checks the values.

    >>> Thresholds(low=0.5, medium=0.7, high=0.85, critical=0.95, reset_below=0.3).severity(0.8)
    1
    """

    low: float
    medium: float
    high: float
    critical: float
    reset_below: float

    def severity(self, score: float) -> int:
        """Index into SEVERITIES of the highest severity reached, -1 for none.

        >>> t = Thresholds(low=0.5, medium=0.7, high=0.85, critical=0.95, reset_below=0.3)
        >>> t.severity(0.2), t.severity(0.5), t.severity(0.99)
        (-1, 0, 3)
        """
        return max((i for i, t in enumerate(self.levels) if score >= t), default=-1)

    @property
    def levels(self) -> tuple[float, float, float, float]:
        """The score at which each severity starts, in SEVERITIES order."""
        return (self.low, self.medium, self.high, self.critical)


def alert_id(kind: str, subject: str, severity: str, episode_start: float) -> str:
    """The alert's id: the same for a recomputed alert, so consumers can deduplicate on it.

    >>> alert_id("account", "acct-1", "high", 1700000000.0)
    'c638161d59cbb3fb'
    >>> alert_id("account", "acct-1", "critical", 1700000000.0)  # a higher severity: a new id
    'a047f0a841c84a93'
    """
    return fingerprint(f"{kind}|{subject}|{severity}|{episode_start!r}")


def reasons_json(reasons: list[Signal], limit: int = 8) -> list[dict[str, Any]]:
    """The first `limit` reasons in the contract's shape, values rounded for the record.

    >>> reasons_json([Signal("cot_elicitation", 0.83333333, 0.02, 1.0, 2.5)])
    [{'signal': 'cot_elicitation', 'value': 0.8333, 'baseline': 0.02, 'contribution': 2.5}]
    """
    return [
        {"signal": s.name, "value": round(s.value, 4), "baseline": s.baseline,
         "contribution": round(s.contribution, 4)}
        for s in reasons[:limit]
    ]


def build_alert(
    *,
    kind: str,
    subject: str,
    accounts: list[str],
    account_count: int,
    score: float,
    severity: int,
    episode_start: float,
    reasons: list[Signal],
    evidence: dict[str, Any],
    ts: float,
    first_seen: float,
    events_seen: int,
    model_version: str,
) -> dict[str, Any]:
    """One alert in the contract's shape (no prompt text can reach it: only fingerprints)."""
    sev = SEVERITIES[severity]
    return {
        "alert_id": alert_id(kind, subject, sev, episode_start),
        "kind": kind,
        "subject": subject,
        "accounts": accounts,
        "account_count": account_count,
        "score": round(score, 4),
        "severity": sev,
        "action": ACTIONS[severity],
        "reasons": reasons_json(reasons),
        "evidence": evidence,
        "ts": ts,
        "first_seen": first_seen,
        "events_seen": events_seen,
        "model_version": model_version,
    }
