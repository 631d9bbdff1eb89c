"""Tests for the campaigns that harvest with harvest sets (``corpus.DATASET_SOURCES``): their
provenance and licences, organic pools that never hold them, the ``*_datasets`` scenarios
(campaign prompts from the harvest sets, organic prompts never), and the ``campaign_text``
setting. Scenarios are shrunk as in ``test_corpus_scenarios``; the tests that need the
corpora skip where they are not installed."""

from __future__ import annotations

from dataclasses import replace
from functools import cache

import pytest

from distillguard.models.text_signals import elicits_chain_of_thought
from distillguard.simulator import SimConfig, corpus, generate
from distillguard.simulator.config import CORPUS_SCENARIOS
from tests.simulator.test_corpus import BUILD, _build_module

needs_corpora = pytest.mark.skipif(
    not corpus.available(),
    reason="the prompt corpora are not installed (distillguard/simulator/corpora/README.md)")

#: each dataset scenario and the scenario it copies
ORIGINALS = {"stealth_datasets": "stealth",
             "stealth_small_cards_datasets": "stealth_small_cards",
             "slow_drip_datasets": "slow_drip",
             "coding_agent_datasets": "coding_agent_imitation",
             # added after the content rule was set: held out of its tuning
             "lockstep_datasets": "lockstep",
             "meta_prompt_datasets": "meta_prompt",
             "paraphrase_rewrite_datasets": "paraphrase_rewrite",
             "cover_traffic_datasets": "cover_traffic",
             "disposable_datasets": "disposable",
             "rotation_datasets": "rotation",
             "lockstep_jitter_datasets": "lockstep_jitter",
             "lockstep_wide_datasets": "lockstep_wide",
             "disposable_own_cards_datasets": "disposable_own_cards",
             "stealth_cards_of_two_datasets": "stealth_cards_of_two"}
#: each harvest-set source: its repository, licence and the categories it fills
HARVEST = {"exercism": ("exercism/problem-specifications", "MIT", {"coding"}),
           "cruxeval": ("facebookresearch/cruxeval", "MIT", {"coding"}),
           "aqua_rat": ("deepmind/AQuA", "Apache-2.0", {"math"}),
           "svamp": ("arkilpatel/SVAMP", "MIT", {"math"}),
           "strategyqa": ("eladsegal/strategyqa", "MIT", {"chat"}),
           "tau_bench": ("sierra-research/tau-bench", "MIT", {"agentic"}),
           "tau2_bench": ("sierra-research/tau2-bench", "MIT", {"agentic"})}


def small(name: str, **kw: object) -> SimConfig:
    cfg = CORPUS_SCENARIOS[name]
    return replace(cfg, organic_accounts=150, hydra_accounts=max(5, cfg.hydra_accounts // 5),
                   days=min(cfg.days, 3.0), **kw)  # type: ignore[arg-type]


@cache
def events(name: str) -> tuple[dict, ...]:
    return tuple(generate(small(name)))


def test_dataset_scenarios_copy_their_originals() -> None:
    for name, original in ORIGINALS.items():
        cfg, orig = CORPUS_SCENARIOS[name], CORPUS_SCENARIOS[original]
        assert cfg.campaign_text == "datasets" and orig.campaign_text == "organic"
        assert replace(cfg, campaign_text="organic") == orig, name
    assert all(cfg.campaign_text == "organic" for name, cfg in CORPUS_SCENARIOS.items()
               if name not in ORIGINALS)


def test_campaign_text_is_validated() -> None:
    with pytest.raises(ValueError, match="campaign_text 'dataset'"):
        SimConfig(campaign_text="dataset")  # type: ignore[arg-type]
    assert SimConfig().campaign_text == "organic"


def test_datasets_on_grammar_text_behave_as_organic() -> None:
    cfg = small("stealth_datasets", text="grammar")
    a = list(generate(cfg))
    b = list(generate(replace(cfg, campaign_text="organic")))
    assert a == b and a


def test_dataset_sources_are_the_harvest_sets() -> None:
    assert set(HARVEST) == corpus.DATASET_SOURCES
    build = _build_module()
    names = [src.name for src in build.SOURCES]
    assert set(HARVEST) <= set(names)
    # the organic sources come first, so adding harvest sets leaves their files alone
    assert all(n in HARVEST for n in names[len(names) - len(HARVEST):])
    assert "natural_instructions" not in names


@needs_corpora
def test_manifest_names_each_harvest_set_with_its_licence() -> None:
    sources = {s["name"]: s for s in corpus.load().manifest["sources"]}
    forbidden = [f.replace("_", "-") for f in _build_module().FORBIDDEN]
    readme = (BUILD.parent / "README.md").read_text()
    assert "natural_instructions" not in sources and "natural-instructions" not in readme
    for name, (repo, licence, cats) in HARVEST.items():
        src = sources[name]
        assert src["repository"] == f"https://github.com/{repo}", name
        assert src["licence"] == licence and src["licence_file"] == "LICENSE", name
        assert len(src["commit"]) == 40 and len(src["licence_text_sha1"]) == 40, name
        assert src["records"] > 0 and set(src["per_category"]) == cats, name
        where = " ".join([src["repository"], *src["paths"]]).lower().replace("_", "-")
        assert not [f for f in forbidden if f in where], name
        assert f"`{name}.jsonl.gz`" in readme and repo in readme, name
    assert "campaign-only" in readme and "never draw" in readme
    loaded = corpus.load()
    for cat in ("coding", "math", "agentic", "chat"):
        pool = loaded.datasets[cat]
        assert len(pool) >= (2_000 if cat == "chat" else 900), cat
        assert len({p.text for p in pool}) == len(pool), cat  # distinct prompts
    # code keeps its indentation; the exercises are capped
    assert any("\n    " in p.text for p in loaded.by_source["cruxeval"])
    assert all(len(p.text) <= 1_500 and not p.text.startswith("# ")
               for p in loaded.by_source["exercism"])


@needs_corpora
def test_organic_pools_hold_no_dataset_record() -> None:
    loaded = corpus.load()
    for cat in corpus.CATEGORIES:
        assert not [p for p in loaded.pool(cat) if p.source in corpus.DATASET_SOURCES]
        assert not [p for p in corpus.plain_pool(cat) if p.source in corpus.DATASET_SOURCES]
        assert all(p.source in corpus.DATASET_SOURCES for p in loaded.datasets[cat])
        pool = corpus.dataset_pool(cat)
        assert pool and not [p for p in pool if elicits_chain_of_thought(p.text)]
        if loaded.datasets[cat]:
            assert {p.source for p in pool} <= corpus.DATASET_SOURCES, cat
        else:  # no harvest set of that category (writing): the plain organic pool
            assert pool == corpus.plain_pool(cat), cat
    assert not loaded.datasets["writing"]
    assert corpus.pick.__doc__ and "organic" in corpus.pick.__doc__


def _flat(text: str) -> str:
    """``text`` on one line with single quotes, as cover traffic quotes a request."""
    return " ".join(text.replace('"', "'").split())


def _harvest_texts() -> set[str]:
    return {p.text for name in corpus.DATASET_SOURCES for p in corpus.load().by_source[name]}


@needs_corpora
@pytest.mark.parametrize("name", sorted(ORIGINALS))
def test_campaigns_send_dataset_items_and_organic_accounts_never(name: str) -> None:
    harvest = _harvest_texts()
    evs = events(name)
    campaign = [e for e in evs if e["sim_label"] == "extraction"]
    organic = [e for e in evs if e["sim_label"] == "organic"]
    assert campaign and organic
    assert not [e for e in organic if e["prompt"] in harvest]
    if name == "coding_agent_datasets":  # only each loop's first turn is a dataset request
        firsts = [e for e in campaign if e["turns"] == 1]
        share = sum(e["prompt"] in harvest for e in firsts) / len(firsts)
    else:  # slow drip wraps about half of them in a reasoning ask; cover traffic quotes
        # them into templates on one line, double quotes made single: compare flattened
        flat, sample = {_flat(t) for t in harvest}, campaign[::max(1, len(campaign) // 200)]
        share = sum(any(t in p for t in flat)
                    for p in (_flat(e["prompt"]) for e in sample)) / len(sample)
    assert share > 0.5, (name, share)  # writing asks: no harvest set, organic fallback
    orig = [e for e in generate(small(ORIGINALS[name])) if e["sim_label"] == "extraction"]
    assert not [e for e in orig if e["prompt"] in harvest]
