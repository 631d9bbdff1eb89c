"""Content as a distribution: embeddings, the private sample, the reference and the rule.

A group whose prompts come from text no established customer sends links by its content,
however quiet each account is; a group of one common kind of customer, far from the
population's mean as it may be, does not, and neither do organic bystanders on a key a
campaign dominates; creation days and networks, which unrelated customers share by
nature, are not judged by content at all. Text comes from the simulator's grammar (no
corpora needed): the population writes chat, coding, maths, writing and support
requests, the campaign only recipe questions, which no organic account here asks.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from distillguard.models import content
from distillguard.models.config import DetectorConfig
from distillguard.models.events import parse_event
from distillguard.models.fingerprints import FingerprintAggregate, Tick, update_aggregate
from distillguard.simulator.grammar import GRAMMAR

RULE = DetectorConfig().link_rule()
ORGANIC_KINDS = ("chat", "coding_q", "reasoning", "writing", "app_support")
CAMPAIGN_KIND = "app_recipes"


def account_vector(rng: random.Random, symbol: str, prompts: int = 20) -> str:
    """An account's content mean: its chunks folded as the account state folds them."""
    model = content.embedder()
    assert model is not None
    mean, chunks = "", 0
    for _ in range(prompts // content.CHUNK):
        feats = [model.features(GRAMMAR.expand(rng, symbol)) for _ in range(content.CHUNK)]
        chunk = content.pack(np.mean([f for f in feats if f is not None], axis=0))
        mean, chunks = content.fold_chunk(mean, chunks, chunk)
    return mean


@pytest.fixture(scope="module")
def reference() -> content.ContentReference:
    """A reference of 600 established accounts, 120 of each organic kind."""
    rng = random.Random(1)
    ref = content.ContentReference()
    for i in range(600):
        ref.update(f"org{i}", account_vector(rng, ORGANIC_KINDS[i % len(ORGANIC_KINDS)]))
    assert ref.ready
    return ref


def test_features_are_unit_length_and_deterministic() -> None:
    model = content.embedder()
    assert model is not None
    a = model.features("How do I reverse a linked list in Python?")
    assert a is not None and a.shape == (2 * content.FREQUENCIES,)
    assert abs(float(a @ a) - 1.0) < 1e-5
    assert np.array_equal(a, model.features("How do I reverse a linked list in Python?"))
    assert model.features("") is None


def test_a_prompt_leaves_the_sampler_only_inside_a_mean_of_chunk_prompts() -> None:
    sampler = content.ContentSampler()
    ids = [f"ev{i}" for i in range(200) if content.sampled(f"ev{i}")]
    unsampled = next(f"ev{i}" for i in range(200) if not content.sampled(f"ev{i}"))
    assert sampler.chunk("a", unsampled, "never embedded") is None
    texts = [f"question number {i} about sorting arrays" for i in range(content.CHUNK)]
    got = [sampler.chunk("a", ev, t) for ev, t in zip(ids, texts, strict=False)]
    assert got[:-1] == [None] * (content.CHUNK - 1)
    model = content.embedder()
    assert model is not None
    expected = np.mean([model.features(t) for t in texts], axis=0)
    assert got[-1] is not None and np.allclose(content.unpack(got[-1]), expected, atol=2e-4)


def test_parsed_events_carry_only_chunk_means() -> None:
    sampler = content.ContentSampler()
    carried = []
    for i in range(60):
        raw = (b'{"event_id": "e%d", "ts": 1700000000, "account_id": "acct-1", "model": "m", '
               b'"input_tokens": 12, "output_tokens": 90, "prompt": "Sort list %d in Go"}'
               % (i, i))
        ev = parse_event(raw, sampler)
        if ev.content is not None:  # type: ignore[union-attr]
            carried.append(i)
    sampled = [i for i in range(60) if content.sampled(f"e{i}")]
    assert carried == sampled[content.CHUNK - 1::content.CHUNK]


def link_members(ticks: list[Tick], key: str, ref: content.ContentReference) -> set[str]:
    agg = FingerprintAggregate()
    named: set[str] = set()
    for tick in ticks:
        link = update_aggregate(agg, key, tick, RULE, reference=ref)
        if link is not None:
            named.update(a for a, _, _ in link.accounts)
    return named


def quiet_ticks(vectors: dict[str, str], key: str, rounds: int = 3,
                new: bool = True) -> list[Tick]:
    """Ticks of quiet accounts (score 0.02, no harvesting shape), round after round."""
    return [Tick(a, 1000.0 * r + i, 0.02, 30 + 10 * r, (key,), new, content=v)
            for r in range(rounds) for i, (a, v) in enumerate(vectors.items())]


def test_a_harvest_sets_group_links_by_content_alone(
        reference: content.ContentReference) -> None:
    rng = random.Random(2)
    campaign = {f"c{i}": account_vector(rng, CAMPAIGN_KIND) for i in range(10)}
    assert link_members(quiet_ticks(campaign, "hdr:prepaid"), "hdr:prepaid",
                        reference) == set(campaign)


@pytest.mark.parametrize("kind", ORGANIC_KINDS)
def test_a_group_of_one_common_kind_of_customer_does_not(
        reference: content.ContentReference, kind: str) -> None:
    rng = random.Random(3)
    group = {f"{kind}{i}": account_vector(rng, kind) for i in range(12)}
    assert link_members(quiet_ticks(group, "sys:app"), "sys:app", reference) == set()


def test_bystanders_sharing_a_campaigns_system_prompt_are_not_named(
        reference: content.ContentReference) -> None:
    rng = random.Random(4)
    campaign = {f"c{i}": account_vector(rng, CAMPAIGN_KIND) for i in range(20)}
    bystanders = {f"o{i}": account_vector(rng, ORGANIC_KINDS[i % 5]) for i in range(10)}
    named = link_members(quiet_ticks({**campaign, **bystanders}, "sys:default"),
                         "sys:default", reference)
    assert named == set(campaign)


def test_established_customers_of_one_niche_tool_do_not_link(
        reference: content.ContentReference) -> None:
    """Cloud apps of one kind sharing its system prompt ask what few others ask, but are
    not young: content links only a group mostly of new accounts."""
    rng = random.Random(7)
    apps = {f"app{i}": account_vector(rng, CAMPAIGN_KIND) for i in range(10)}
    assert link_members(quiet_ticks(apps, "sys:recipes", new=False), "sys:recipes",
                        reference) == set()


def test_a_creation_day_is_not_judged_by_content(reference: content.ContentReference) -> None:
    rng = random.Random(6)
    campaign = {f"c{i}": account_vector(rng, CAMPAIGN_KIND) for i in range(20)}
    assert link_members(quiet_ticks(campaign, "cohort:20450"), "cohort:20450",
                        reference) == set()


def card_ticks(vectors: dict[str, str], cards: dict[str, str], rounds: int = 3) -> list[Tick]:
    """Quiet ticks on an opening window, each account's card among its keys."""
    return [Tick(a, 1000.0 * r + i, 0.02, 30 + 10 * r, (f"pay:{cards[a]}",), True, content=v)
            for r in range(rounds) for i, (a, v) in enumerate(vectors.items())]


def test_a_card_of_two_in_a_crowded_window_links_when_it_asks_what_the_crowd_asks(
        reference: content.ContentReference) -> None:
    """An operator's stock of cards, spread at random, carries two of its accounts on some
    cards: in a window its crowded cards link, those pairs join by asking what the crowd
    asks. A household of two opening its accounts in those days, asking ordinary things,
    does not; neither does a pair of the campaign's kind in a window no crowd links."""
    rng = random.Random(8)
    crowd = {f"c{i}": account_vector(rng, CAMPAIGN_KIND) for i in range(24)}
    pair = {f"p{i}": account_vector(rng, CAMPAIGN_KIND) for i in range(4)}
    household = {f"h{i}": account_vector(rng, ORGANIC_KINDS[i % 5]) for i in range(4)}
    cards = {**{a: f"pm-stock{i // 3}" for i, a in enumerate(crowd)},
             **{a: f"pm-pair{i // 2}" for i, a in enumerate(pair)},
             **{a: f"pm-home{i // 2}" for i, a in enumerate(household)}}
    named = link_members(card_ticks({**crowd, **pair, **household}, cards), "opened:20448",
                         reference)
    assert named == set(crowd) | set(pair)
    assert link_members(card_ticks(pair, cards), "opened:20448", reference) == set()


def test_nothing_is_judged_before_the_reference_is_ready() -> None:
    rng = random.Random(5)
    campaign = {f"c{i}": account_vector(rng, CAMPAIGN_KIND) for i in range(10)}
    cold = content.ContentReference()
    assert not cold.ready
    assert link_members(quiet_ticks(campaign, "hdr:prepaid"), "hdr:prepaid", cold) == set()


def test_a_content_mean_packs_small_and_keeps_its_numbers() -> None:
    model = content.embedder()
    assert model is not None
    v = model.features("Write a function that merges two sorted lists.")
    assert v is not None
    packed = content.pack(v)
    assert len(packed) == 172  # 64 float16 numbers in base64
    assert np.allclose(content.unpack(packed), v, atol=2e-4)
