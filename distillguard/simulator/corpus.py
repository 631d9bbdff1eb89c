"""Real public request text for the simulator: the prompt corpora and their pools.

Why: a detector tuned on text from the simulator's own grammar learns that grammar. The
corpus scenarios draw their prompts from samples of public datasets instead (grade-school
math questions, MT-bench and Vicuna-bench questions, APIBench and function-calling
requests, shell-task descriptions, assistant queries, role prompts), listed with their
repository, commit, paths and licence in the corpora's ``manifest.json`` and ``README.md``.

Some sources are different (``DATASET_SOURCES``): harvest sets, benchmark and training-set
items sent as they stand (exercise descriptions, code-execution puzzles, word problems with
answer choices, trivia questions, agent-task briefs), which is what a distillation pipeline
sends and what no user types. The organic pools (``Corpus.by_category``, ``Corpus.pool``,
``pick``, ``plain_pool``) never contain them; ``dataset_pool`` is where the campaign families
draw them from (``SimConfig.campaign_text="datasets"``).

The files are gzip JSON lines, one per source, found in this order: the directory named by
``DISTILLGUARD_CORPORA``; the package's ``corpora/`` data. They are not in the repository
(see ``corpora/README.md``): ``corpora/build.py`` builds them from local copies of the
source repositories; nothing here needs the network. Without them the corpus scenarios
refuse to run, naming this; everything else works.

Draws are deterministic: a pool is a tuple in file order, and every pick goes through the
caller's seeded ``Random``.
"""

from __future__ import annotations

import gzip
import json
import os
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from distillguard.simulator.sampling import _pick

#: capability categories of the corpora: the pools personas draw from
CATEGORIES = ("coding", "agentic", "math", "writing", "chat")
#: environment variable naming a directory that holds the corpora
ENV_DIR = "DISTILLGUARD_CORPORA"
#: harvest-set sources (campaign-only): kept out of every organic pool
DATASET_SOURCES = frozenset({"exercism", "cruxeval", "aqua_rat", "svamp", "strategyqa",
                             "tau_bench", "tau2_bench"})
#: the gateway ``task`` label of each category's requests
TASK_OF = {"coding": "coding", "agentic": "agentic", "math": "reasoning",
           "writing": "writing", "chat": "chat"}


class CorpusMissing(RuntimeError):
    """The corpora are not installed where the loader looks (see the module docstring)."""


@dataclass(frozen=True)
class Prompt:
    """One request of a public dataset: its text and what the source says about it."""

    text: str  # the user's message
    category: str  # one of ``CATEGORIES``
    source: str  # the corpus file stem (``gsm8k``, ``bfcl``, ...)
    id: str  # the record's id within its source
    label: str = ""  # the source's own category or intent, if it has one
    followups: tuple[str, ...] = ()  # later user turns of the same conversation
    tools: int | None = None  # function definitions the source offered with it


@dataclass(frozen=True)
class Corpus:
    """Every loaded prompt, by category and by source, plus the manifest."""

    prompts: tuple[Prompt, ...]  # every record of every source, in file order
    manifest: dict = field(compare=False)  # ``manifest.json``: sources, licences, counts
    # the organic pools: every record but those of ``DATASET_SOURCES``, by category
    by_category: dict[str, tuple[Prompt, ...]] = field(init=False, compare=False)
    # the records of ``DATASET_SOURCES``, by category (what campaigns harvest with)
    datasets: dict[str, tuple[Prompt, ...]] = field(init=False, compare=False)
    by_source: dict[str, tuple[Prompt, ...]] = field(init=False, compare=False)
    # the benchmarks' second turns: generic follow-ups to any conversation
    followups: tuple[str, ...] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        cats: dict[str, list[Prompt]] = {c: [] for c in CATEGORIES}
        sets: dict[str, list[Prompt]] = {c: [] for c in CATEGORIES}
        srcs: dict[str, list[Prompt]] = {}
        for p in self.prompts:
            (sets if p.source in DATASET_SOURCES else cats)[p.category].append(p)
            srcs.setdefault(p.source, []).append(p)
        object.__setattr__(self, "by_category", {k: tuple(v) for k, v in cats.items()})
        object.__setattr__(self, "datasets", {k: tuple(v) for k, v in sets.items()})
        object.__setattr__(self, "by_source", {k: tuple(v) for k, v in srcs.items()})
        object.__setattr__(self, "followups", tuple(
            f for p in self.prompts if p.source in ("mt_bench", "vicuna_bench")
            for f in p.followups))

    def pool(self, category: str, sources: Iterable[str] | None = None) -> tuple[Prompt, ...]:
        """The organic prompts of one category, optionally only those of the named sources
        (never a record of ``DATASET_SOURCES``)."""
        pool = self.by_category[category]
        if sources is None:
            return pool
        wanted = set(sources)
        return tuple(p for p in pool if p.source in wanted)

    def texts(self) -> frozenset[str]:
        """Every prompt and follow-up text (tests check a scenario's prompts against it)."""
        return frozenset(t for p in self.prompts for t in (p.text, *p.followups))


def _candidates() -> Iterator[Traversable]:
    env = os.environ.get(ENV_DIR)
    if env:
        yield Path(env)
    yield resources.files("distillguard.simulator") / "corpora"


def corpus_dir() -> Traversable:
    """Where the corpora are: the first candidate that holds a ``manifest.json``."""
    tried = []
    for cand in _candidates():
        tried.append(str(cand))
        if (cand / "manifest.json").is_file():
            return cand
    raise CorpusMissing(
        "no prompt corpora found (looked in " + ", ".join(tried) + "); set "
        f"{ENV_DIR} or rebuild them with distillguard/simulator/corpora/build.py")


def available() -> bool:
    """Whether the corpora can be loaded (the corpus scenarios need them)."""
    try:
        corpus_dir()
    except CorpusMissing:
        return False
    return True


@cache
def load() -> Corpus:
    """Load every corpus file named in the manifest (once per process)."""
    where = corpus_dir()
    manifest = json.loads((where / "manifest.json").read_text("utf-8"))
    prompts = []
    for src in manifest["sources"]:
        raw = gzip.decompress((where / src["file"]).read_bytes()).decode("utf-8")
        for line in raw.split("\n"):
            if not line:
                continue
            rec = json.loads(line)
            prompts.append(Prompt(
                text=rec["text"], category=rec["category"], source=src["name"],
                id=rec["id"], label=rec.get("label", ""),
                followups=tuple(rec.get("followups", ())), tools=rec.get("tools")))
    return Corpus(tuple(prompts), manifest)


def pick(rng: random.Random, category: str) -> Prompt:
    """One organic prompt of ``category``, drawn with ``rng``."""
    return _pick(rng, load().by_category[category])


@cache
def plain_pool(category: str) -> tuple[Prompt, ...]:
    """The organic prompts of ``category`` that use none of the chain-of-thought phrases the
    detector documents (what an operator who read its documentation sends)."""
    from distillguard.models.text_signals import elicits_chain_of_thought

    return tuple(p for p in load().by_category[category]
                 if not elicits_chain_of_thought(p.text))


@cache
def dataset_pool(category: str) -> tuple[Prompt, ...]:
    """The harvest-set records (``DATASET_SOURCES``) of ``category`` that use none of the
    chain-of-thought phrases: what a campaign harvesting datasets sends. A category the
    harvest sets do not cover (``writing``) falls back to ``plain_pool``."""
    from distillguard.models.text_signals import elicits_chain_of_thought

    pool = tuple(p for p in load().datasets[category]
                 if not elicits_chain_of_thought(p.text))
    return pool or plain_pool(category)
