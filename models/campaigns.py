"""Campaign formation: accounts linked through suspicious shared fingerprints.

Accounts and fingerprint keys are nodes of a union-find forest; every `Link`
joins its accounts to its key. A connected component is one operation, even
when it spans several ASNs or templates, because its accounts overlap on some
key. A component's id is `camp-` + a hash of the first key that linked it.
When two components merge, the one already alerted at the higher severity
(then the older) keeps its id, so consumers keep following the id they know;
the absorbed ids are listed in the evidence (`merged_campaign_ids`).

Severity grows with evidence, on a ladder an analyst can check: `low` at 5
linked accounts, `medium` at 20, `high` at 50 once the campaign has been
active 6 hours of event time, `critical` at 100 after 12 hours. Waiting for
time as well as size makes the higher alerts name most of a campaign's
accounts, not only the first few to be scored. A campaign alert's score, and
a member alert's, is at least the score at which an account alert of the
same severity starts (`threshold_low` ...): a consumer that ranks or filters
alerts by score keeps a campaign's members beside the accounts alerting alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from distillguard.models.alerts import build_alert
from distillguard.models.config import DetectorConfig
from distillguard.models.events import HOUR
from distillguard.models.fingerprints import Link
from distillguard.models.signals import Signal
from distillguard.models.text_signals import fingerprint

#: shared-fingerprint statistics reported as reasons: (name, organic baseline, full strength at);
#: the owners and the group mean that link are at full strength at twice the link rule's bar
KEY_SIGNALS = (
    ("timing_synchrony", 0.05, 0.5),
    ("new_account_share", 0.05, 1.0),
    ("newest_model_share", 0.3, 1.0),
    ("template_concentration", 0.1, 1.0),
    ("burst", 1.0, 100.0),
    ("content_effect", 0.1, 1.0),
)


@dataclass(frozen=True, slots=True)
class CampaignRule:
    """The severity ladder: (accounts, event-time hours active) for low..critical."""

    ladder: tuple[tuple[int, float], ...] = ((5, 0.0), (20, 0.0), (50, 6.0), (100, 12.0))
    account_cap: int = 10_000   # accounts listed in one alert (account_count has the total)
    evidence_keys: int = 50     # linking keys listed in evidence

    def severity(self, accounts: int, hours: float) -> int:
        """Index into SEVERITIES of the highest rung both size and age reach, -1 for none.

        >>> rule = CampaignRule()
        >>> rule.severity(4, 0.0), rule.severity(20, 1.0), rule.severity(60, 1.0)
        (-1, 1, 1)
        >>> rule.severity(60, 6.0), rule.severity(150, 12.5)
        (2, 3)
        """
        return max((i for i, (n, h) in enumerate(self.ladder) if accounts >= n and hours >= h),
                   default=-1)


@dataclass(slots=True)
class Campaign:
    """One component: its members, the keys that link them, and its alert state."""

    campaign_id: str
    first: float
    last: float
    accounts: dict[str, tuple[float, int]] = field(default_factory=dict)  # -> (score, events)
    keys: dict[str, None] = field(default_factory=dict)       # insertion-ordered set
    sev: int = -1
    merged: list[str] = field(default_factory=list)           # ids this campaign absorbed
    allow: bool = False                                       # allow-listed: never alerts
    stats: dict[str, float] = field(default_factory=dict)     # strongest linking-key stats
    #: members taken out by an account allow-list -> (its source, its ts)
    allowed: dict[str, tuple[str, float | None]] = field(default_factory=dict)

    def merge(self, other: Campaign) -> None:
        """Absorb `other`, the side of a union that loses its id: members, keys, window,
        alert state, and its ids into `merged`."""
        self.first = min(self.first, other.first)
        self.last = max(self.last, other.last)
        self.accounts.update(other.accounts)
        self.keys.update(other.keys)
        self.sev = max(self.sev, other.sev)
        self.allow = self.allow or other.allow
        self.allowed.update(other.allowed)
        self.note(other.stats)
        self.merged.extend([other.campaign_id, *other.merged])

    def note(self, stats: dict[str, float]) -> None:
        """Keep the strongest value of each linking-key statistic seen so far."""
        for name, value in stats.items():
            self.stats[name] = max(self.stats.get(name, value), value)

    def breadth(self) -> float:
        """Size on a log scale: 10 accounts give 0.5, 100 or more give 1."""
        return min(1.0, math.log10(max(len(self.accounts), 1)) / 2)

    def mean_score(self) -> float:
        """The members' mean account score (0 for none)."""
        return sum(score for score, _ in self.accounts.values()) / max(len(self.accounts), 1)

    def rank(self) -> tuple[int, float, str]:
        """Which side of a merge keeps its id: the one consumers already know best."""
        return (-self.sev, self.first, self.campaign_id)


class CampaignGraph:
    """Union-find over accounts and keys; lives in the memory of one campaigns worker."""

    def __init__(self, rule: CampaignRule | None = None, model_version: str = "",
                 config: DetectorConfig | None = None) -> None:
        self.rule = rule or CampaignRule()
        self.model_version = model_version
        config = config or DetectorConfig()
        self._floors = config.thresholds().levels  # an alert's least score, by severity
        link = config.link_rule()
        self._owners_full, self._group_full = 2.0 * link.min_owners, 2.0 * link.group_mean
        self._key_signals = (*KEY_SIGNALS, ("distinct_owners", 1.0, self._owners_full),
                             ("group_mean_score", 0.03, self._group_full))
        self._parent: dict[str, str] = {}
        self._campaigns: dict[str, Campaign] = {}  # root node -> campaign
        self._allowlisted: set[str] = set()  # accounts an analyst allow-listed: never members

    def _find(self, node: str) -> str:
        parent = self._parent.setdefault(node, node)
        if parent == node:
            return node
        root = self._find(parent)
        self._parent[node] = root
        return root

    def clear(self) -> None:
        """Forget everything (before rebuilding from the links log)."""
        self._parent.clear()
        self._campaigns.clear()
        self._allowlisted.clear()

    def campaign_of(self, account: str) -> str | None:
        """The campaign id of an account, if it is linked into one."""
        node = "a:" + account
        if node not in self._parent:
            return None
        camp = self._campaigns.get(self._find(node))
        return camp.campaign_id if camp else None

    def campaigns(self) -> list[Campaign]:
        """The current campaigns, one per connected component of linked accounts and keys."""
        return list(self._campaigns.values())

    def remove_account(self, account: str, source: str = "", ts: float | None = None) -> None:
        """Take an allow-listed account out of its campaign's member list.

        Its node stays in the forest (union-find cannot split), but it no longer
        counts or appears in alerts, and, scored 0 from now on, it links no more.
        The campaign's later alerts list it, with the allow-list's `source` and `ts`,
        under `allowlisted_accounts` in their evidence.
        """
        self._allowlisted.add(account)
        node = "a:" + account
        if node in self._parent and (camp := self._campaigns.get(self._find(node))):
            if camp.accounts.pop(account, None) is not None:
                camp.allowed[account] = (source, ts)

    def allowlist(self, campaign_id: str) -> bool:
        """Silence a campaign (and whatever later merges with it); False if unknown."""
        for camp in self._campaigns.values():
            if camp.campaign_id == campaign_id or campaign_id in camp.merged:
                camp.allow = True
                return True
        return False

    def add(self, link: Link) -> list[dict[str, Any]]:
        """Apply one link; return the alerts it causes.

        A campaign alert when the campaign reaches a higher severity; otherwise,
        once the campaign has alerted, one account alert for each account the link
        brings into it (`member_alert`), so that members joining later, after the
        campaign is critical too, are named as they appear.
        """
        members = [a for a in link.accounts if a[0] not in self._allowlisted]
        if not members:
            return []
        key_node = "k:" + link.key
        root = self._find(key_node)
        camp = self._campaigns.get(root)
        if camp is None:
            camp = Campaign("camp-" + fingerprint(link.key)[:12], link.ts, link.ts)
            self._campaigns[root] = camp
        camp.keys[link.key] = None
        joined = [account for account, _, _ in members if self.campaign_of(account) is None]
        for account, score, events in members:
            root = self._union(root, self._find("a:" + account))
            camp = self._campaigns[root]
            camp.accounts[account] = (score, events)
        camp.note(link.stats)  # on the survivor of any merge above
        camp.last = max(camp.last, link.ts)
        alerts = self._maybe_alert(camp, link.ts)
        if not alerts and camp.sev >= 0 and not camp.allow:
            alerts = [self.member_alert(camp, account, link) for account in joined]
        return alerts

    def member_alert(self, camp: Campaign, account: str, link: Link) -> dict[str, Any]:
        """An account alert naming a member that joined an alerted campaign.

        At the campaign's severity, with the campaign's id and the key that linked
        the account in its evidence; its id is stable per account, severity and
        campaign episode, so a recomputed one deduplicates.
        """
        score, events = camp.accounts[account]
        strength = self._strength(camp)
        reasons = [Signal("campaign_member", float(len(camp.accounts)), 0.0, strength, 2.0),
                   Signal("member_score", score, 0.1, score, 1.0)]
        return build_alert(
            kind="account", subject=account, accounts=[account], account_count=1,
            score=max(score, strength, self._floors[camp.sev]), severity=camp.sev,
            episode_start=camp.first,
            reasons=reasons,
            evidence={"campaign_id": camp.campaign_id, "linking_keys": [link.key],
                      "linking_key_stats": dict(link.stats), "window": [camp.first, link.ts]},
            ts=link.ts, first_seen=camp.first, events_seen=events,
            model_version=self.model_version)

    def _strength(self, camp: Campaign) -> float:
        """How far the campaign is from chance: its size, and its members' or keys' evidence.

        Members linked by a shared payment instrument or a group far above organic may
        each look quiet; the owners sharing the key, or the group's mean score, are then
        the evidence (half strength at the link rule's bar, full at twice it).
        """
        owners = camp.stats.get("distinct_owners", 0.0) / self._owners_full
        group = camp.stats.get("group_mean_score", 0.0) / self._group_full
        return camp.breadth() * max(camp.mean_score(), min(1.0, max(owners, group)))

    def _union(self, a: str, b: str) -> str:
        if a == b:
            return a
        ca, cb = self._campaigns.get(a), self._campaigns.get(b)
        if cb is None:
            self._parent[b] = a
            return a
        if ca is None:
            self._parent[a] = b
            return b
        # the side already alerted at the higher severity (then the older) keeps its id
        keep, gone = (a, b) if ca.rank() <= cb.rank() else (b, a)
        winner, loser = self._campaigns[keep], self._campaigns.pop(gone)
        winner.merge(loser)
        self._parent[gone] = keep
        return keep

    def _maybe_alert(self, camp: Campaign, ts: float) -> list[dict[str, Any]]:
        if camp.allow or not camp.accounts:
            return []
        size = len(camp.accounts)
        hours = (camp.last - camp.first) / HOUR
        sev = self.rule.severity(size, hours)
        if sev <= camp.sev:
            return []
        camp.sev = sev
        return [self._alert(camp, sev, ts)]

    def _alert(self, camp: Campaign, sev: int, ts: float) -> dict[str, Any]:
        size = len(camp.accounts)
        mean_score, breadth = camp.mean_score(), camp.breadth()
        kinds = sorted({k.split(":", 1)[0] for k in camp.keys})
        stats = camp.stats
        reasons = [
            Signal(name, stats[name], baseline, min(1.0, stats[name] / full), 0.5)
            for name, baseline, full in self._key_signals if name in stats
        ] + [
            Signal("campaign_accounts", float(size), 1.0, breadth, 2.0),
            Signal("mean_member_score", mean_score, 0.1, mean_score, 2.0),
            Signal("linking_fingerprints", float(len(camp.keys)), 0.0,
                   min(1.0, len(camp.keys) / 10), 1.0),
            Signal("active_hours", (camp.last - camp.first) / HOUR, 0.0,
                   min(1.0, (camp.last - camp.first) / (12 * HOUR)), 1.0),
        ]
        reasons.sort(key=lambda s: -s.contribution)
        accounts = sorted(camp.accounts)[: self.rule.account_cap]
        evidence: dict[str, Any] = {
            "window": [camp.first, camp.last],
            "linking_keys": list(camp.keys)[: self.rule.evidence_keys],
            "linking_kinds": kinds,
            "merged_campaign_ids": list(camp.merged),  # copies: the campaign lives on
            "linking_key_stats": dict(stats),
        }
        if camp.allowed:  # members an analyst allow-listed: who did, and when
            evidence["allowlisted_accounts"] = [
                {"account": account, "source": source, "ts": when}
                for account, (source, when) in sorted(camp.allowed.items())
            ][: self.rule.account_cap]
        return build_alert(
            kind="campaign",
            subject=camp.campaign_id,
            accounts=accounts,
            account_count=size,
            score=max(self._strength(camp), self._floors[sev]),
            severity=sev,
            episode_start=camp.first,
            reasons=reasons,
            evidence=evidence,
            ts=ts,
            first_seen=camp.first,
            events_seen=sum(events for _, events in camp.accounts.values()),
            model_version=self.model_version,
        )
