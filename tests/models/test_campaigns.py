"""Fingerprint aggregates, the link rule and campaign formation, with plain calls."""

from __future__ import annotations

import base64
import random

import pytest

from distillguard.models.account_state import AccountState
from distillguard.models.campaigns import CampaignGraph, CampaignRule
from distillguard.models.config import DetectorConfig
from distillguard.models.events import DAY, HOUR, Event
from distillguard.models.feedback import LabelModel, parse_feedback
from distillguard.models.fingerprints import (
    _LIVE,
    FingerprintAggregate,
    Link,
    Tick,
    _add_account,
    network_of,
    tick_keys,
    update_aggregate,
)
from distillguard.models.signals import FOCUS_ONLY

RULE = DetectorConfig().link_rule()


def tick(account: str, score: float, ts: float = 0.0, *keys: str,
         harvest: float = 0.5) -> Tick:
    return Tick(account, ts, score, 20, keys, False, harvest=harvest)


def feed(agg: FingerprintAggregate, key: str, ticks: list[Tick]) -> list:
    return [link for t in ticks if (link := update_aggregate(agg, key, t, RULE))]


def test_key_links_only_when_suspects_dominate() -> None:
    agg = FingerprintAggregate()
    links = feed(agg, "tpl:x", [tick(f"s{i}", 0.9) for i in range(5)])
    assert len(links) == 1 and {a for a, _, _ in links[0].accounts} == {f"s{i}" for i in range(5)}
    assert feed(agg, "tpl:x", [tick("s0", 0.9)])[0].accounts == (("s0", 0.9, 20),)


def test_university_nat_never_links() -> None:
    """150 students behind one IP, two of them suspicious: sharing alone is innocent."""
    agg = FingerprintAggregate()
    ticks = [tick(f"student{i}", 0.05) for i in range(150)]
    ticks += [tick(f"odd{i}", 0.9) for i in range(6)]
    assert feed(agg, "net:10.1.2.0/24", ticks) == []
    assert 140 < agg.distinct_accounts() < 170  # HLL estimate


def test_popular_sdk_with_a_campaign_inside_does_not_link() -> None:
    agg = FingerprintAggregate()
    ticks = [tick(f"user{i}", 0.1) for i in range(400)] + [tick(f"c{i}", 0.95) for i in range(50)]
    assert feed(agg, "ua:sdk", ticks) == []


def test_suspicion_fades_over_event_time_instead_of_vanishing_at_one_low_tick() -> None:
    """A harvesting account mixing in organic chat dips now and then: it stays a suspect
    for a while, and falls out only once its score has stayed low for days."""
    agg = FingerprintAggregate()
    feed(agg, "k", [tick(f"s{i}", 0.9) for i in range(5)])
    feed(agg, "k", [tick("s0", 0.1, ts=3600.0)])
    assert "s0" in agg.suspects and agg.linked is True
    feed(agg, "k", [tick("s0", 0.1, ts=10 * DAY)])
    assert "s0" not in agg.suspects and agg.linked is False


def test_accounts_sharing_a_card_link_by_owners_not_by_their_scores() -> None:
    """Quiet accounts of many owners on one prepaid card link; a family (a few owners)
    or a startup's accounts under one org (one owner) do not."""
    card = FingerprintAggregate()
    links = feed(card, "pay:prepaid", [tick(f"c{i}", 0.05) for i in range(RULE.min_owners)])
    assert len(links) == 1 and len(links[0].accounts) == RULE.min_owners
    family = FingerprintAggregate()
    assert feed(family, "pay:family", [tick(f"f{i}", 0.05) for i in range(5)]) == []
    startup = FingerprintAggregate()
    staff = [Tick(f"staff{i}", 0.0, 0.05, 20, ("pay:corp",), False, org="org-startup")
             for i in range(32)]
    assert feed(startup, "pay:corp", staff) == []


def test_a_group_far_above_organic_links_its_own_not_its_bystanders() -> None:
    """Quiet accounts of many owners on one system prompt, each under any alert, average
    far above what organic groups do: the key links those near the group's level, not an
    organic bystander on it; a company's accounts (one org) or a lukewarm group do not."""
    agg = FingerprintAggregate()
    ticks = [tick(f"c{i}", 0.2) for i in range(RULE.min_owners)] + [tick("bystander", 0.01)]
    links = feed(agg, "sys:abc", ticks)
    named = {a for link in links for a, _, _ in link.accounts}
    assert named == {f"c{i}" for i in range(RULE.min_owners)}
    assert links[0].stats["group_mean_score"] >= RULE.group_mean
    company = [Tick(f"dev{i}", 0.0, 0.3, 20, ("sys:corp",), False, org="org-acme")
               for i in range(40)]
    assert feed(FingerprintAggregate(), "sys:corp", company) == []
    lukewarm = [tick(f"u{i}", RULE.group_mean * 0.6) for i in range(60)]
    assert feed(FingerprintAggregate(), "sys:common", lukewarm) == []
    # customers of one batch tool: its template, machine-like scores, short plain outputs
    batch = [tick(f"b{i}", RULE.group_mean + 0.02, harvest=0.0) for i in range(20)]
    assert feed(FingerprintAggregate(), "tpl:label-tool", batch) == []
    # an ASN is popular by nature: it is never judged by its group's mean
    assert feed(FingerprintAggregate(), "asn:64500", [tick(f"c{i}", 0.3) for i in range(20)]) == []


def test_on_a_creation_day_a_member_by_the_mean_takes_more_than_coding_focus() -> None:
    """A creation day is shared by unrelated signups: a busy pipeline created the same day,
    scoring above the group on machine-like signals and taking nothing but a coding share,
    is not named with the campaign that makes the day's mean."""
    agg = FingerprintAggregate()
    ticks = [tick(f"c{i}", 0.2, harvest=0.3) for i in range(RULE.min_owners)]
    # a member taking less than the group's mean, but more than focus alone, still joins
    ticks += [tick("c-low", 0.2, harvest=0.22), tick("pipeline", 0.3, harvest=round(FOCUS_ONLY, 4))]
    named = {a for link in feed(agg, "cohort:20448", ticks) for a, _, _ in link.accounts}
    assert named == {f"c{i}" for i in range(RULE.min_owners)} | {"c-low"}
    # on a specific key (a system prompt) half the group's harvest shape is enough, of any kind
    agg = FingerprintAggregate()
    named = {a for link in feed(agg, "sys:abc", ticks) for a, _, _ in link.accounts}
    assert "pipeline" in named


def test_a_batch_of_accounts_on_a_stock_of_small_cards_links_by_its_opening_window() -> None:
    """Forty quiet accounts opened together, five to a card: no card has the owners to link
    alone, but an opening window crowded with shared cards links the accounts on them, not
    the window's other customers; households opening accounts on a card do not link,
    nor a startup's staff (one org) on its corporate card."""
    batch = [Tick(f"c{i}", 0.0, 0.02, 20, (f"pay:pm-stock{i % 8}",), True, harvest=0.0)
             for i in range(40)] * 2  # each ticks again later: once the window links, it joins
    loners = [Tick(f"o{i}", 0.0, 0.02, 20, (f"pay:pm-own{i}",), True) for i in range(30)]
    agg = FingerprintAggregate()
    links = feed(agg, "opened:20448", loners[:15] + batch + loners[15:])
    named = {a for link in links for a, _, _ in link.accounts}
    assert named == {f"c{i}" for i in range(40)}
    assert links[0].stats["crowded_cards"] >= RULE.crowded_cards
    households = [Tick(f"h{i}", 0.0, 0.02, 20, (f"pay:pm-home{i // 3}",), True)
                  for i in range(3 * (RULE.crowded_cards - 1))]
    assert feed(FingerprintAggregate(), "opened:20448", households + loners) == []
    staff = [Tick(f"s{i}", 0.0, 0.02, 20, (f"pay:pm-corp{i % 5}",), True, org="org-startup")
             for i in range(32)]
    assert feed(FingerprintAggregate(), "opened:20448", staff) == []


def test_a_new_account_on_a_crowded_card_of_a_linked_window_joins_at_its_first_request() -> None:
    """Once an opening window links, an account on one of its crowded cards is a member
    from its first (provisional) tick: the card is the evidence, not its own behaviour.
    One on a card of its own there is not."""
    batch = [Tick(f"c{i}", 0.0, 0.02, 20, (f"pay:pm-stock{i % 8}",), True, harvest=0.0)
             for i in range(40)]
    agg = FingerprintAggregate()
    feed(agg, "opened:20448", batch)
    assert agg.linked
    late = Tick("c-late", 1.0, 0.0, 1, ("pay:pm-stock3",), True, provisional=True)
    alone = Tick("o-late", 1.0, 0.0, 1, ("pay:pm-own",), True, provisional=True)
    assert [link.accounts for link in feed(agg, "opened:20448", [late, alone])] == [
        (("c-late", 0.0, 1),)]


def test_opening_windows_hold_every_batch_opened_within_two_days() -> None:
    """Two windows, offset by half their width, hold each day of a young, carded account:
    any three consecutive days fall whole into one of them."""
    def windows(day: int, age_days: float = 3.0, card: str | None = "pm-1") -> set[str]:
        created = day * DAY + 3600.0
        ev = Event(event_id="e", ts=created + age_days * DAY, account_id="a", model="m",
                   input_tokens=10, output_tokens=10, account_created=created, payment_fp=card)
        return {k for k in tick_keys(ev, AccountState()) if k.startswith("opened:")}
    for first in range(20440, 20450):
        assert windows(first) & windows(first + 1) & windows(first + 2)
    assert len(windows(20445)) == 2
    assert windows(20445, age_days=60.0) == set() and windows(20445, card=None) == set()


def test_provisional_scores_count_in_groups_but_make_no_suspect() -> None:
    """Accounts dropped before they are scored still raise their group's mean; a high
    provisional score (a handful of events) never makes a suspect on its own."""
    early = [Tick(f"d{i}", 0.0, 0.25, 5, ("cohort:20450",), True, provisional=True, harvest=0.5)
             for i in range(RULE.min_owners)]
    agg = FingerprintAggregate()
    assert feed(agg, "cohort:20450", early) and not agg.suspects
    hot = [Tick(f"h{i}", 0.0, 0.9, 5, ("tpl:x",), False, provisional=True) for i in range(3)]
    agg = FingerprintAggregate()
    feed(agg, "tpl:x", hot)
    assert not agg.suspects


def test_suspects_on_popular_infrastructure_need_an_alerting_score() -> None:
    """A busy organic account whose noisy ticks touch member_score does not become a
    suspect on its cloud's ASN or its SDK's user agent; it does on a template."""
    for key in ("asn:16509", "ua:python-httpx|httpx", "ja4:t13d"):
        agg = FingerprintAggregate()
        feed(agg, key, [tick("pipeline", RULE.member_score + 0.01)])
        assert not agg.suspects, key
    agg = FingerprintAggregate()
    feed(agg, "tpl:y", [tick("pipeline", RULE.member_score + 0.01)])
    assert "pipeline" in agg.suspects


def test_network_of() -> None:
    assert network_of("192.0.2.77") == "192.0.2.0/24"
    assert network_of("2001:db8:1:2::5") == "2001:db8:1::/48"
    assert network_of("not-an-ip") is None


def link(key: str, accounts: list[str], ts: float = 0.0) -> Link:
    return Link(key, ts, tuple((a, 0.9, 30) for a in accounts))


def test_one_operation_one_id_across_keys() -> None:
    graph = CampaignGraph(CampaignRule())
    alerts = graph.add(link("asn:1", [f"a{i}" for i in range(5)]))
    first_id = alerts[0]["subject"]
    assert alerts[0]["severity"] == "low" and alerts[0]["kind"] == "campaign"
    graph.add(link("asn:2", [f"b{i}" for i in range(5)], ts=10))
    graph.add(link("tpl:t", ["a0", "b0"], ts=20))  # a shared template bridges the two ASNs
    assert graph.campaign_of("a3") == graph.campaign_of("b3") == first_id
    assert len(graph.campaigns()) == 1


def test_severity_ladder_needs_size_and_time() -> None:
    graph = CampaignGraph(CampaignRule())
    sevs = [a["severity"] for a in graph.add(link("k", [f"a{i}" for i in range(120)]))]
    assert sevs == ["medium"]  # 120 accounts at once, but no time active yet
    sevs = [a["severity"] for a in graph.add(link("k", ["a0"], ts=13 * HOUR))]
    assert sevs == ["critical"]
    assert graph.add(link("k", ["a1"], ts=14 * HOUR)) == []  # same severity: nothing


def test_campaign_alert_names_members_and_evidence() -> None:
    graph = CampaignGraph(CampaignRule())
    alert = graph.add(link("pay:p", [f"a{i}" for i in range(7)]))[0]
    assert alert["accounts"] == sorted(f"a{i}" for i in range(7)) and alert["account_count"] == 7
    assert alert["evidence"]["linking_keys"] == ["pay:p"]
    assert [r["contribution"] for r in alert["reasons"]] == sorted(
        (r["contribution"] for r in alert["reasons"]), reverse=True)


def test_campaign_and_member_alerts_score_at_least_their_severity() -> None:
    """Five quiet accounts on one card alert `low` as a campaign: its score, and a later
    member's, starts where an account alert of that severity starts, so ranking alerts
    by score does not put a campaign's members under accounts that never alerted."""
    config = DetectorConfig()
    graph = CampaignGraph(CampaignRule(), config=config)
    quiet = [(f"a{i}", 0.05, 20) for i in range(5)]
    first = graph.add(Link("pay:p", 0.0, tuple(quiet), {"distinct_owners": 5.0}))
    assert [a["severity"] for a in first] == ["low"]
    assert first[0]["score"] >= config.threshold_low
    later = graph.add(Link("pay:p", 60.0, (("late", 0.02, 1),), {"distinct_owners": 6.0}))
    assert [(a["kind"], a["subject"], a["severity"]) for a in later] == [("account", "late", "low")]
    assert later[0]["score"] >= config.threshold_low


def test_allowlist_and_removal() -> None:
    graph = CampaignGraph(CampaignRule())
    cid = graph.add(link("k", [f"a{i}" for i in range(5)]))[0]["subject"]
    graph.remove_account("a0")
    assert graph.campaign_of("a1") == cid
    assert graph.allowlist(cid) and not graph.allowlist("camp-unknown")
    assert graph.add(link("k", [f"a{i}" for i in range(30)], ts=5)) == []


def test_parse_feedback() -> None:
    fb = parse_feedback(b'{"account_id": "a", "label": "benign", "allowlist": true, "ts": 1}')
    assert not isinstance(fb, str) and fb.allowlists and fb.subject_kind == "account"
    assert parse_feedback(b'{"campaign_id": "c", "label": "extraction", "ts": 2}').label == \
        "extraction"  # type: ignore[union-attr]
    assert parse_feedback(b"nope") == "invalid_json"
    assert parse_feedback(b'{"account_id": "a", "campaign_id": "c", "label": "benign", "ts": 1}') \
        == "missing_field"
    assert parse_feedback(b'{"account_id": "a", "label": "maybe", "ts": 1}') == "bad_value"
    assert parse_feedback(b'{"account_id": "a", "label": "benign", "ts": "x"}') == "bad_timestamp"


def test_label_model_learns_only_when_both_classes_seen() -> None:
    model = LabelModel(min_per_class=3)
    bad, good = {"cot": 0.9, "focus": 0.9}, {"cot": 0.0, "focus": 0.2}
    for _ in range(3):
        model.learn(bad, True)
    assert model.probability(bad) is None
    for _ in range(20):
        model.learn(good, False)
        model.learn(bad, True)
    assert model.probability(bad) > 0.5 > model.probability(good)  # type: ignore[operator]


def test_midas_burst_scores_a_sudden_crowd_on_one_key() -> None:
    from distillguard.models.density import EdgeBurst

    burst = EdgeBurst()
    steady = crowd = 0.0
    for hour in range(48):
        for i in range(5):
            steady = burst.score("asn:steady", hour * HOUR + i)
        burst.score("tpl:new", hour * HOUR + 30)
    for i in range(300):
        crowd = burst.score("tpl:new", 48 * HOUR + i)
    steady = burst.score("asn:steady", 48 * HOUR + 400)
    assert crowd > 1000 > 10 > steady


def test_aggregate_stats_show_synchrony_cohorts_and_model_moves() -> None:
    agg = FingerprintAggregate()
    for i in range(40):  # lockstep: a new account ticks every 10 s, all on the new model
        t = Tick(f"c{i}", 1000.0 + 10 * i, 0.9, 20, ("asn:9", "tpl:t1"), True,
                 "frontier-4" if i < 5 else "frontier-5")
        update_aggregate(agg, "asn:9", t, RULE)
    stats = agg.stats()
    assert stats["timing_synchrony"] > 0.8
    assert stats["new_account_share"] == 1.0
    assert stats["newest_model_share"] > 0.7
    assert stats["template_concentration"] == 1.0



@pytest.mark.parametrize("universe", [40, 400, 4000])
def test_a_sketch_kept_decoded_keeps_its_bytes_only_when_nothing_changed(universe: int) -> None:
    """The fold keeps a live sketch's serialised form when its estimate stays put
    (`fingerprints._add_account`): that must be exactly when serialising it again would
    give the same bytes, through list, set and HLL modes, and after records decoded afresh
    (under a new key name, as a record from elsewhere is), whose serialisation can differ
    from the bytes they came from while their estimate does not."""
    rng = random.Random(universe)
    b64, key = "", "asn:0"
    for i in range(3000):
        if rng.random() < 0.3:
            key = f"asn:{i}"  # not in the live cache: decoded from `b64`
        b64, distinct = _add_account(key, b64, f"acct-{rng.randrange(universe)}")
        live = _LIVE[key][1]
        assert live.get_estimate() == distinct
        assert base64.b64encode(live.serialize_compact()).decode() == b64
