"""Tests for the scenarios on real public text: each generates and is deterministic, its
labels and personas are as documented, its prompts come from the corpora, and the hard
negatives are in every organic population, each with its shape.

Scenarios are shrunk (fewer organic accounts) so the file runs in seconds; the shapes
under test do not depend on the organic population's size."""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter, defaultdict
from dataclasses import replace
from functools import cache

import orjson
import pytest

from distillguard.models.events import DAY
from distillguard.simulator import SCENARIOS, SimConfig, corpus, generate, ground_truth, roster
from distillguard.simulator.config import CORPUS_MIX, CORPUS_SCENARIOS, ORGANIC_PERSONAS
from tests.simulator.test_streams import CLIENT, OPTIONAL, REQUIRED

pytestmark = pytest.mark.skipif(
    not corpus.available(),
    reason="the prompt corpora are not installed (distillguard/simulator/corpora/README.md)")

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
                   if cfg.hydra_accounts else 0)


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
    assert extraction <= {"hydra", "loud", "pivot"}


@pytest.mark.parametrize("name", ["hydra_real", "hard_negatives"])
def test_deterministic(name: str) -> None:
    cfg = replace(small(name), days=1.0)
    first = b"".join(orjson.dumps(e) for e in generate(cfg))
    assert first == b"".join(orjson.dumps(e) for e in generate(cfg))
    assert first != b"".join(orjson.dumps(e) for e in generate(replace(cfg, seed=8)))


def test_hard_negatives_are_in_every_organic_population() -> None:
    for name, cfg in CORPUS_SCENARIOS.items():
        personas = Counter(a.persona for a in roster(cfg) if a.label == "organic")
        assert set(personas) == set(ORGANIC_PERSONAS), name


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
    evs = list(generate(replace(cfg, days=1.0, organic_accounts=300)))
    signups = per_account([e for e in evs if e["sim_persona"] == "new_signup"])
    assert all(v[0]["ts"] >= v[0]["account_created"] for v in signups.values())
    on = [e for e in evs if e["sim_persona"] == "always_on_agent"]
    assert len({int((e["ts"] % DAY) // 3600) for e in on}) == 24
    nat = Counter(e["client"]["ip"] for e in evs if e["sim_persona"] == "nat_student")
    assert nat.most_common(1)[0][1] > 50


def test_new_config_fields_are_validated() -> None:
    with pytest.raises(ValueError):
        SimConfig(text="novels")  # type: ignore[arg-type]
    assert SimConfig(text="corpus", persona_mix=CORPUS_MIX).text == "corpus"
