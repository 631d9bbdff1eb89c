"""Tests for the scenarios on real public text: each generates and is deterministic, its
labels and personas are as documented, its prompts come from the corpora, the hard
negatives are in every organic population, and each campaign family has its shape.

Scenarios are shrunk (fewer organic accounts) so the file runs in seconds; the shapes
under test do not depend on the organic population's size. Where the corpora are not
installed (a clean checkout, CI) the scenarios run on grammar text (`TEXT`): every shape
is checked still, and only the tests of where the text comes from are skipped."""

from __future__ import annotations

import hashlib
import itertools
import re
import statistics
from collections import Counter, defaultdict
from dataclasses import replace
from functools import cache

import orjson
import pytest

from distillguard.models.events import DAY
from distillguard.models.text_signals import elicits_chain_of_thought, template_skeleton
from distillguard.simulator import SCENARIOS, SimConfig, corpus, generate, ground_truth, roster
from distillguard.simulator.config import (
    CORPUS_MIX,
    CORPUS_SCENARIOS,
    FAMILIES,
    ORGANIC_PERSONAS,
)
from distillguard.simulator.network import RESIDENTIAL
from distillguard.simulator.templates import COT_VARIED, META_HEADER
from tests.simulator.test_streams import CLIENT, OPTIONAL, REQUIRED

needs_corpora = pytest.mark.skipif(
    not corpus.available(),
    reason="the prompt corpora are not installed (distillguard/simulator/corpora/README.md)")
#: the text the shrunk scenarios run on: the corpora's where they are installed
TEXT = "corpus" if corpus.available() else "grammar"

#: event-stream digests of the classic scenarios (scaled as the benchmark-alert fixture
#: scales them), recorded before the corpus scenarios existed: they must never change
CLASSIC_DIGESTS = {
    "demo": (12611, "30d9f1d9622379078a6dd2f11942e48c"),
    "hydra": (96084, "33e98356179b163ac6feed0eca798534"),
    "rotating_proxies": (9030, "2a9849e351086434255b39d87a1f65bf"),
    "loud": (14425, "a65f83064b9c67c27fddb3e8ead4b812"),
    "pivot": (14038, "1450e13854c62ead52c7d7b61fa96667"),
    "paraphrase": (9015, "39fade9e2addcf2ef3e5775026b15e5d"),
    "release": (11720, "c678a55316249e94b5decab374476807"),
}


def small(name: str) -> SimConfig:
    cfg = CORPUS_SCENARIOS[name]
    return replace(cfg, organic_accounts=200, hydra_accounts=max(5, cfg.hydra_accounts // 3)
                   if cfg.hydra_accounts else 0, text=TEXT)


@cache
def events(name: str) -> tuple[dict, ...]:
    return tuple(generate(small(name)))


def campaign(name: str) -> list[dict]:
    return [e for e in events(name) if e["sim_label"] == "extraction"]


def per_account(evs: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for e in evs:
        out[e["account_id"]].append(e)
    return out


def test_classic_scenarios_are_byte_identical() -> None:
    for name, (count, digest) in CLASSIC_DIGESTS.items():
        cfg = SCENARIOS[name]
        if name != "demo":
            cfg = replace(cfg, organic_accounts=max(20, int(cfg.organic_accounts * 0.05)),
                          hydra_accounts=max(5, int(cfg.hydra_accounts * 0.05)))
        h, n = hashlib.sha256(), 0
        for ev in generate(cfg):
            h.update(orjson.dumps(ev, option=orjson.OPT_APPEND_NEWLINE))
            n += 1
        assert (n, h.hexdigest()[:32]) == (count, digest), name


def test_every_family_has_a_scenario_and_sizes_are_as_documented() -> None:
    fams = {cfg.family for cfg in CORPUS_SCENARIOS.values()} - {None}
    assert fams == set(FAMILIES)
    for name, cfg in CORPUS_SCENARIOS.items():
        assert cfg.text == "corpus" and 2.0 <= cfg.days <= 10.0, name
        assert 1_500 <= cfg.organic_accounts <= 3_000, name
        assert cfg.hydra_accounts <= 500, name
        truth = Counter(ground_truth(cfg).values())
        assert truth["organic"] == cfg.organic_accounts
    assert CORPUS_SCENARIOS["slow_drip"].days >= 7
    assert CORPUS_SCENARIOS["hard_negatives"].hydra_accounts == 0


@pytest.mark.parametrize("name", sorted(CORPUS_SCENARIOS))
def test_scenario_generates_to_the_contract(name: str) -> None:
    cfg, evs = small(name), events(name)
    assert evs
    assert all(a["ts"] <= b["ts"] for a, b in itertools.pairwise(evs))
    assert cfg.start_ts <= evs[0]["ts"] and evs[-1]["ts"] < cfg.end_ts
    for ev in evs[:: max(1, len(evs) // 3_000)]:
        for field, kind in REQUIRED.items():
            assert type(ev[field]) is kind, (field, ev)
        for field, kind in OPTIONAL.items():
            if field in ev:
                assert type(ev[field]) is kind, (field, ev)
        assert set(ev["client"]) == set(CLIENT)
        assert ev["output_tokens"] <= ev["max_tokens"]
    truth = ground_truth(cfg)
    for ev in evs:  # a pivot account's events before it turns are organic
        assert ev["sim_label"] == truth[ev["account_id"]] or ev["sim_persona"] == "pivot"
        assert ("sim_campaign" in ev) == (ev["sim_label"] == "extraction")
    organic = {e["sim_persona"] for e in evs if e["sim_label"] == "organic"} - {"pivot"}
    assert organic <= set(ORGANIC_PERSONAS)
    extraction = {e["sim_persona"] for e in evs if e["sim_label"] == "extraction"}
    if cfg.family:
        assert extraction == {cfg.family}
        assert {e["sim_campaign"] for e in campaign(name)} == {
            f"camp-{cfg.family.replace('_', '-')}-1"}


@pytest.mark.parametrize("name", ["stealth", "disposable", "hard_negatives"])
def test_deterministic(name: str) -> None:
    cfg = replace(small(name), days=1.0)
    first = b"".join(orjson.dumps(e) for e in generate(cfg))
    assert first == b"".join(orjson.dumps(e) for e in generate(cfg))
    assert first != b"".join(orjson.dumps(e) for e in generate(replace(cfg, seed=8)))


def test_hard_negatives_are_in_every_organic_population() -> None:
    for name, cfg in CORPUS_SCENARIOS.items():
        personas = Counter(a.persona for a in roster(cfg) if a.label == "organic")
        assert set(personas) == set(ORGANIC_PERSONAS), name


@needs_corpora
def test_organic_prompts_come_from_the_corpora() -> None:
    texts = corpus.load().texts()
    evs = events("hard_negatives")
    for persona in ("casual_chat", "nat_student", "company_staff", "new_signup"):
        firsts = [e["prompt"] for e in evs if e["sim_persona"] == persona and e["turns"] == 1]
        share = sum(p in texts or p.removesuffix(p[p.rfind(" ", 0, len(p) - 1):]) in texts
                    for p in firsts) / len(firsts)
        assert share > 0.6, (persona, share)
    devs = [e["prompt"] for e in evs if e["sim_persona"] == "developer_agent" and e["turns"] == 1]
    assert sum(p in texts for p in devs) / len(devs) > 0.9


@cache
def quoted_texts() -> frozenset[str]:
    """Corpus texts as the templates quote them: one line, double quotes made single."""
    return frozenset(" ".join(t.replace('"', "'").split()) for t in corpus.load().texts())


def from_corpus(prompt: str, texts: frozenset[str]) -> bool:
    """Whether the prompt is, or holds, a corpus text (verbatim, on a line, or quoted)."""
    if prompt in texts or any(line.strip() in texts for line in prompt.split("\n")):
        return True
    if any(q in quoted_texts() for q in re.findall(r'"([^"\n]*)"', prompt)):
        return True
    words = prompt.split(" ")
    return any(" ".join(words[i:j]) in texts
               for i in range(min(len(words), 12)) for j in range(len(words), i, -1))


@needs_corpora
@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_campaign_prompts_come_from_the_corpora(name: str) -> None:
    texts = corpus.load().texts()
    prompts = [e["prompt"] for e in campaign(name)]
    if name == "meta_prompt":  # the seed examples
        prompts = [part.split("\n", 1)[-1] for p in prompts
                   for part in p.split("\n\nExample ")[1:]]
    elif name == "coding_agent_imitation":  # the loops' first prompts
        prompts = [e["prompt"] for e in campaign(name) if e["turns"] == 1]
    assert prompts
    hits = sum(from_corpus(p, texts) for p in prompts)
    assert hits / len(prompts) > 0.85, (name, hits / len(prompts))


def test_stealth_shape() -> None:
    evs = campaign("stealth")
    assert not any(elicits_chain_of_thought(e["prompt"]) for e in evs)
    assert statistics.median(e["output_tokens"] for e in evs) < 700
    accts = [a for a in roster(CORPUS_SCENARIOS["stealth"]) if a.label == "extraction"]
    per_card = Counter(a.payment_fp for a in accts)
    assert len(per_card) <= len(accts) // 20 and min(per_card.values()) >= 10
    created = [a.created for a in accts]
    assert max(created) - min(created) <= 2 * DAY
    hours = Counter(int((e["ts"] % DAY) // 3600) for e in evs)
    assert len(hours) >= 12  # people spread over many time zones, but they do sleep
    per_day = [len(v) / small("stealth").days for v in per_account(evs).values()]
    assert statistics.median(per_day) < 60


def test_lockstep_shape() -> None:
    evs = campaign("lockstep")
    rounds: list[list[float]] = [[]]
    for e in evs:
        if rounds[-1] and e["ts"] - rounds[-1][-1] > 60:
            rounds.append([])
        rounds[-1].append(e["ts"])
    n = small("lockstep").hydra_accounts
    assert len(rounds) >= 25
    for r in rounds:
        assert r[-1] - r[0] <= small("lockstep").lockstep_width
        assert len(r) >= 0.75 * n
    assert len({e["client"]["ip"] for e in evs}) > 0.95 * len(evs)
    residential = {asn for asn, _ in RESIDENTIAL}
    asns = {e["client"]["asn"] for e in evs}
    assert asns <= residential and len(asns) >= 20
    assert sum(elicits_chain_of_thought(e["prompt"]) for e in evs) / len(evs) < 0.01


def test_meta_prompt_shape() -> None:
    evs = campaign("meta_prompt")
    assert all(e["prompt"].startswith(META_HEADER) for e in evs)
    assert all(e["prompt"].count("\n\nExample ") == 3 for e in evs)
    assert len({e["prompt"] for e in evs}) > 0.99 * len(evs)  # varying per request
    skeletons = Counter(template_skeleton(e["prompt"]) for e in evs)
    assert skeletons.most_common(1)[0][1] < 0.01 * len(evs)


def test_paraphrase_rewrite_shape() -> None:
    evs = campaign("paraphrase_rewrite")
    forms = Counter(template_skeleton(e["prompt"])[:40] for e in evs)
    assert len(forms) > 100  # many surface forms of the one ask
    accts = [a for a in roster(small("paraphrase_rewrite")) if a.label == "extraction"]
    per_card = Counter(a.payment_fp for a in accts)
    assert max(per_card.values()) >= 5 and len(per_card) < len(accts)
    residential = {asn for asn, _ in RESIDENTIAL}
    assert all(e["client"]["asn"] in residential for e in evs)


def test_coding_agent_imitation_shape() -> None:
    evs = campaign("coding_agent_imitation")
    assert all(e["tools"] >= 8 for e in evs)
    assert sum(e["tool_calls"] > 0 for e in evs) / len(evs) > 0.5
    assert sum(e["turns"] > 1 for e in evs) / len(evs) > 0.5
    assert sum(e["client"]["sdk"] == "codeagent-cli" for e in evs) / len(evs) > 0.4
    organic_agents = {e["system"] for e in events("coding_agent_imitation")
                      if e["sim_persona"] == "developer_agent"}
    assert {e["system"] for e in evs} <= organic_agents  # the real agents' system prompts


def test_slow_drip_shape() -> None:
    evs = campaign("slow_drip")
    days = Counter((e["account_id"], int(e["ts"] // DAY)) for e in evs)
    assert max(days.values()) < 10
    assert small("slow_drip").days >= 7
    active = Counter(int(e["ts"] // DAY) for e in evs)
    assert len(active) >= 7
    asked = sum(any(c in e["prompt"] for c in COT_VARIED) for e in evs) / len(evs)
    assert 0.4 < asked < 0.6
    detected = sum(elicits_chain_of_thought(e["prompt"]) for e in evs) / len(evs)
    assert detected < asked  # varied wording: not every phrasing is caught


@needs_corpora
def test_cover_traffic_shape() -> None:
    chatty = {p.text for c in ("chat", "writing") for p in corpus.load().pool(c)}
    evs = campaign("cover_traffic")
    assert 0.15 < sum(e["prompt"] in chatty for e in evs) / len(evs) < 0.25
    for mine in per_account(evs).values():
        if len(mine) >= 40:
            assert 0.05 < sum(e["prompt"] in chatty for e in mine) / len(mine) < 0.4
    harvest = [e for e in evs if e["prompt"] not in chatty]
    assert sum(elicits_chain_of_thought(e["prompt"]) for e in harvest) / len(harvest) > 0.8


def test_disposable_shape() -> None:
    evs = campaign("disposable")
    accounts = per_account(evs)
    assert all(len(v) <= 10 for v in accounts.values())
    assert statistics.mean(len(v) for v in accounts.values()) > 8
    for v in accounts.values():
        created = v[0]["account_created"]
        assert created < v[0]["ts"] < created + 3 * 3600  # opened just before its run
    starts = sorted(v[0]["ts"] for v in accounts.values())
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert max(gaps) < DAY / 4  # a steady stream of new accounts


def test_rotation_shape() -> None:
    accounts = per_account(campaign("rotation"))
    counts = [len(v) for v in accounts.values()]
    assert max(counts) <= 60 and 40 <= statistics.mean(counts) <= 60
    created = [v[0]["account_created"] for v in accounts.values()]
    assert max(created) - min(created) <= DAY + 1  # a stock opened in one batch
    spans = sorted((v[0]["ts"], v[-1]["ts"]) for v in accounts.values())
    busy = max(sum(a <= t <= b for a, b in spans) for t, _ in spans)
    assert busy <= max(2, small("rotation").hydra_accounts // 20) + 2


def test_held_out_variants_change_only_what_they_name() -> None:
    """Wider lockstep rounds, fewer accounts per card, a card per account."""
    wide = campaign("lockstep_wide")
    spans, start = [], wide[0]["ts"]
    for a, b in itertools.pairwise(wide):
        if b["ts"] - a["ts"] > 60:
            spans.append(a["ts"] - start)
            start = b["ts"]
    assert 4.0 < max(spans) <= small("lockstep_wide").lockstep_width
    small_cards = Counter(a.payment_fp for a in roster(CORPUS_SCENARIOS["stealth_small_cards"])
                          if a.label == "extraction")
    assert statistics.mean(small_cards.values()) < 8 and len(small_cards) >= 20
    own = [a.payment_fp for a in roster(CORPUS_SCENARIOS["disposable_own_cards"])
           if a.label == "extraction"]
    assert len(set(own)) == len(own)


def test_hard_negative_shapes() -> None:
    cfg = replace(CORPUS_SCENARIOS["hard_negatives"], organic_accounts=1_000)
    accts = roster(cfg)
    by = defaultdict(list)
    for a in accts:
        by[a.persona].append(a)
    orgs = Counter(a.org_id for a in by["company_staff"])
    org, size = orgs.most_common(1)[0]
    staff = [a for a in by["company_staff"] if a.org_id == org]
    assert size >= 40 and len({a.payment_fp for a in staff}) == 1
    assert len({a.clients[0]["asn"] for a in staff}) == 1
    cards = Counter(a.payment_fp for a in by["family_card"])
    assert 2 <= max(cards.values()) <= 6
    team = Counter(a.payment_fp for a in by["startup_team"])
    fp, members = team.most_common(1)[0]
    assert members == 32
    onboard = [a.created for a in by["startup_team"] if a.payment_fp == fp]
    assert max(onboard) - min(onboard) <= 2 * DAY
    assert all(cfg.start_ts <= a.created < a.since < cfg.end_ts for a in by["new_signup"])
    evs = list(generate(replace(cfg, days=1.0, organic_accounts=300, text=TEXT)))
    signups = per_account([e for e in evs if e["sim_persona"] == "new_signup"])
    assert all(v[0]["ts"] >= v[0]["account_created"] for v in signups.values())
    on = [e for e in evs if e["sim_persona"] == "always_on_agent"]
    assert len({int((e["ts"] % DAY) // 3600) for e in on}) == 24
    nat = Counter(e["client"]["ip"] for e in evs if e["sim_persona"] == "nat_student")
    assert nat.most_common(1)[0][1] > 50


def test_new_config_fields_are_validated() -> None:
    with pytest.raises(ValueError):
        SimConfig(family="smash_and_grab")
    with pytest.raises(ValueError):
        SimConfig(text="novels")  # type: ignore[arg-type]
    assert SimConfig(text="corpus", persona_mix=CORPUS_MIX).family is None
