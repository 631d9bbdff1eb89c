"""What a simulated scenario is: ``SimConfig``, the named ``SCENARIOS``, labels and models.

A ``SimConfig`` determines a stream completely (every random draw is seeded from it), so a
benchmark names a scenario instead of shipping its events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

from distillguard.models.events import DAY
from distillguard.simulator.network import CLOUD_ASNS, HOSTING_ASNS
from distillguard.simulator.templates import HYDRA_TEMPLATES

#: ``sim_label`` of legitimate traffic
ORGANIC = "organic"
#: ``sim_label`` of campaign traffic (and of pivot accounts once they turn)
EXTRACTION = "extraction"

#: the model most accounts use
OLD_MODEL = "frontier-4"
#: the cheap model, favoured by apps and batch jobs
MINI_MODEL = "frontier-4-mini"
#: the previous generation, still used by a few chat users
LEGACY_MODEL = "frontier-3"

#: the organic personas, each with its own schedule and prompts; the last five are the hard
#: negatives the corpus scenarios add (see ``CORPUS_MIX``)
ORGANIC_PERSONAS = ("casual_chat", "nat_student", "developer_agent", "server_app",
                    "batch_pipeline", "company_staff", "family_card", "startup_team",
                    "always_on_agent", "new_signup")

#: account shares of the organic personas; heavy personas are rare, as in real traffic
DEFAULT_MIX: tuple[tuple[str, float], ...] = (
    ("casual_chat", 0.822),
    ("nat_student", 0.14),
    ("developer_agent", 0.025),
    ("server_app", 0.01),
    ("batch_pipeline", 0.003),
)

#: account shares of the corpus scenarios' organic population: ``DEFAULT_MIX`` plus every hard
#: negative, so each campaign family is measured next to each look-alike
CORPUS_MIX: tuple[tuple[str, float], ...] = (
    ("casual_chat", 0.70),
    ("nat_student", 0.12),
    ("developer_agent", 0.03),
    ("server_app", 0.012),
    ("batch_pipeline", 0.004),
    ("company_staff", 0.04),  # one company: one corporate ASN and egress, one org_id
    ("family_card", 0.04),  # households of 2-6 accounts on one card
    ("startup_team", 0.016),  # 32 developers on one corporate card, onboarded together
    ("always_on_agent", 0.004),  # coding agents running around the clock
    ("new_signup", 0.03),  # innocent accounts opened during the scenario, in cohorts
)
#: the ``hard_negatives`` scenario's mix: the look-alikes weigh more, ordinary users less
HARD_NEGATIVE_MIX: tuple[tuple[str, float], ...] = (
    ("casual_chat", 0.45),
    ("nat_student", 0.20),
    ("developer_agent", 0.03),
    ("server_app", 0.012),
    ("batch_pipeline", 0.004),
    ("company_staff", 0.10),
    ("family_card", 0.08),
    ("startup_team", 0.04),
    ("always_on_agent", 0.006),
    ("new_signup", 0.078),
)

#: campaign families of the corpus scenarios: ``sim_persona`` of their accounts -> what the
#: operator does (each read the detector's documentation and flattens some of its signals)
FAMILIES: dict[str, str] = {
    "stealth": ("no chain-of-thought asks, ordinary output lengths, diurnal human sessions; "
                "a few prepaid cards shared by tens of accounts created within two days"),
    "lockstep": ("a scheduler fires rounds in which every account sends within seconds; a "
                 "fresh residential exit node per request; organic-looking prompts"),
    "meta_prompt": ("a data pipeline: one long fixed instruction header, seed examples "
                    "sampled from public datasets, a slot for the new item"),
    "paraphrase_rewrite": ("one ask in many surface forms around public-dataset tasks; "
                           "residential addresses; shared prepaid cards"),
    "coding_agent_imitation": ("looks like a coding agent: the agents' system prompt, tools "
                               "offered, tool calls, multi-turn loops, the agent CLI's user "
                               "agent; first prompts from instruction datasets"),
    "slow_drip": ("under ten requests a day per account for over a week; chain-of-thought "
                  "on about half the prompts, in varied wording"),
    "cover_traffic": ("templated harvesting (dataset requests quoted into a few fixed "
                      "templates asking for the reasoning), with about a fifth of each "
                      "account's requests organic-looking chat"),
    "disposable": ("each account is dropped after about nine requests, below the scoring "
                   "minimum; a steady stream of freshly opened accounts"),
    "rotation": ("a fixed number of working slots, each account retired after about fifty "
                 "requests and replaced by one from a stock opened in one cohort"),
}

#: where organic prompt text comes from
TextSource = Literal["grammar", "corpus"]
#: where the campaign families' harvesting requests come from (``SimConfig.campaign_text``)
CampaignText = Literal["organic", "datasets"]


@dataclass(frozen=True)
class SimConfig:
    """Everything that determines a simulated stream; equal configs give equal streams.

    >>> cfg = SimConfig(days=1.5)
    >>> cfg.end_ts - cfg.start_ts
    129600.0
    >>> SimConfig(hydra_timing="random")
    Traceback (most recent call last):
    ...
    ValueError: unknown hydra_timing 'random'
    """

    seed: int = 7  # seeds every random draw of the scenario
    start_ts: float = 1_767_225_600.0  # 2026-01-01T00:00:00Z
    days: float = 2.0  # length of the simulated stream
    organic_accounts: int = 60  # split across organic personas by ``persona_mix``
    loud_accounts: int = 1  # single high-rate extraction account(s)
    hydra_accounts: int = 0  # quiet coordinated campaign accounts
    persona_mix: tuple[tuple[str, float], ...] = DEFAULT_MIX  # (persona, share) of organic
    students_per_nat: int = 150  # student accounts sharing one university NAT address
    loud_rate_per_day: float = 3_000.0  # requests of each loud account
    hydra_rate_per_day: float = 25.0  # per campaign account
    hydra_asns: int = 30  # size of the campaign's hosting/proxy ASN pool
    hydra_templates: int = 4  # 3-5 shared prompt templates
    # how the campaign's scheduler spaces requests: evenly, or in bursts of all accounts
    hydra_timing: Literal["round_robin", "lockstep"] = "round_robin"
    # where the campaign's requests come from: its rented hosting pool, or residential
    # proxies rotating to a fresh exit node every request
    hydra_network: Literal["hosting", "residential_rotating"] = "hosting"
    hydra_paraphrase: bool = False  # reword each templated prompt, keeping its structure
    pivot_accounts: int = 0  # aged organic accounts that turn to extraction
    pivot_day: float = 1.0  # days after start_ts when the pivot happens
    pivot_rate_per_day: float = 1_200.0  # requests of a pivot account's extraction script
    release_day: float | None = None  # days after start_ts when ``new_model`` launches
    new_model: str = "frontier-5"  # the model launched at ``release_day``
    # organic prompts from the grammar, or real requests from the public corpora (``corpus``)
    text: TextSource = "grammar"
    # the campaign family the ``hydra_accounts`` accounts run (a key of ``FAMILIES``);
    # ``None``: the classic hydra campaign shaped by the ``hydra_*`` fields
    family: str | None = None
    # accounts per prepaid card where the family draws from a stock of cards (0: the
    # family's own habit; 1: every account of the family pays with its own card)
    family_cards: int = 0
    lockstep_width: float = 4.0  # seconds within which a lockstep round's accounts send
    # what the campaign families harvest with on corpus text: the organic pools (``organic``,
    # the families' requests drawn like the users'), or harvest-set items (``datasets``:
    # ``corpus.dataset_pool``; cover chat stays organic). On grammar text
    # (``text="grammar"``) there is no corpus, and ``datasets`` behaves as ``organic``.
    campaign_text: CampaignText = "organic"

    def __post_init__(self) -> None:
        if self.hydra_timing not in ("round_robin", "lockstep"):
            raise ValueError(f"unknown hydra_timing {self.hydra_timing!r}")
        if self.hydra_network not in ("hosting", "residential_rotating"):
            raise ValueError(f"unknown hydra_network {self.hydra_network!r}")
        if not 1 <= self.hydra_asns <= len(HOSTING_ASNS) + len(CLOUD_ASNS):
            raise ValueError(f"hydra_asns must be in 1..{len(HOSTING_ASNS) + len(CLOUD_ASNS)}")
        if not 1 <= self.hydra_templates <= len(HYDRA_TEMPLATES):
            raise ValueError(f"hydra_templates must be in 1..{len(HYDRA_TEMPLATES)}")
        if self.text not in ("grammar", "corpus"):
            raise ValueError(f"unknown text {self.text!r}")
        if self.family is not None and self.family not in FAMILIES:
            raise ValueError(f"unknown family {self.family!r}")
        if self.campaign_text not in ("organic", "datasets"):
            raise ValueError(f"unknown campaign_text {self.campaign_text!r} "
                             "(expected 'organic' or 'datasets')")
        if self.family_cards < 0 or self.lockstep_width <= 0:
            raise ValueError("family_cards must be >= 0 and lockstep_width > 0")
        unknown = {name for name, _ in self.persona_mix} - set(ORGANIC_PERSONAS)
        if unknown:
            raise ValueError(f"unknown organic personas {sorted(unknown)}")

    @property
    def end_ts(self) -> float:
        """When the stream ends (exclusive), in epoch seconds."""
        return self.start_ts + self.days * DAY

    @property
    def release_ts(self) -> float:
        """When ``new_model`` launches, in epoch seconds; infinite when it never does."""
        return math.inf if self.release_day is None else self.start_ts + self.release_day * DAY


#: the named scenarios the benchmarks, tests and the CLI run
SCENARIOS: dict[str, SimConfig] = {
    "demo": SimConfig(days=2.0, organic_accounts=60, loud_accounts=1, hydra_accounts=20),
    "hydra": SimConfig(days=3.0, organic_accounts=20_000, loud_accounts=0, hydra_accounts=2_000),
    "rotating_proxies": SimConfig(days=2.0, organic_accounts=2_000, loud_accounts=0,
                                  hydra_accounts=300, hydra_network="residential_rotating",
                                  hydra_timing="lockstep"),
    "loud": SimConfig(days=2.0, organic_accounts=2_000, loud_accounts=1),
    "pivot": SimConfig(days=4.0, organic_accounts=1_000, loud_accounts=0, pivot_accounts=1,
                       pivot_day=2.5),
    "paraphrase": SimConfig(days=2.0, organic_accounts=2_000, loud_accounts=0,
                            hydra_accounts=300, hydra_paraphrase=True),
    "release": SimConfig(days=3.0, organic_accounts=2_000, loud_accounts=0, hydra_accounts=300,
                         release_day=1.0),
}


def _on_corpus(**kw: object) -> SimConfig:
    """A corpus scenario: real request text and every hard negative in the organic mix."""
    base: dict[str, object] = {"days": 3.0, "organic_accounts": 2_000, "loud_accounts": 0,
                               "text": "corpus", "persona_mix": CORPUS_MIX}
    return SimConfig(**{**base, **kw})  # type: ignore[arg-type]


#: the scenarios on real public text: one per campaign family (its ``hydra_accounts`` run
#: the family), the classic campaigns on real organic text, and the hard negatives alone
CORPUS_SCENARIOS: dict[str, SimConfig] = {
    "hard_negatives": _on_corpus(organic_accounts=2_000,
                                 persona_mix=HARD_NEGATIVE_MIX),
    "stealth": _on_corpus(family="stealth", hydra_accounts=200),
    "lockstep": _on_corpus(family="lockstep", hydra_accounts=150),
    "meta_prompt": _on_corpus(family="meta_prompt", hydra_accounts=60),
    "paraphrase_rewrite": _on_corpus(family="paraphrase_rewrite", hydra_accounts=200,
                                     hydra_rate_per_day=40.0),
    "coding_agent_imitation": _on_corpus(family="coding_agent_imitation", hydra_accounts=60),
    "slow_drip": _on_corpus(family="slow_drip", hydra_accounts=250, days=8.0,
                            organic_accounts=1_500),
    "cover_traffic": _on_corpus(family="cover_traffic", hydra_accounts=200,
                                hydra_rate_per_day=40.0),
    "disposable": _on_corpus(family="disposable", hydra_accounts=500),
    "rotation": _on_corpus(family="rotation", hydra_accounts=250),
    # a scheduler jittering each round over 30 s (the timing bucket width was chosen
    # looking at synthetic rounds 20 and 30 s wide: not held out)
    "lockstep_jitter": _on_corpus(family="lockstep", hydra_accounts=150, lockstep_width=30.0),
    # variants of the families made after their rules were set: held out of all tuning
    "lockstep_wide": _on_corpus(family="lockstep", hydra_accounts=150, lockstep_width=15.0),
    "stealth_small_cards": _on_corpus(family="stealth", hydra_accounts=200, family_cards=6),
    # made after the opening windows' bars were set on stealth_small_cards (the card-pair
    # rule was then developed looking at it)
    "stealth_cards_of_three": _on_corpus(family="stealth", hydra_accounts=200, family_cards=3),
    # made after the card-pair rule was set: held out
    "stealth_cards_of_two": _on_corpus(family="stealth", hydra_accounts=200, family_cards=2),
    "disposable_own_cards": _on_corpus(family="disposable", hydra_accounts=500,
                                       family_cards=1),
    "hydra_real": _on_corpus(hydra_accounts=250),
    "loud_real": _on_corpus(loud_accounts=1),
    "pivot_real": _on_corpus(days=4.0, organic_accounts=1_500, pivot_accounts=1,
                             pivot_day=2.0),
}
#: the same families harvesting with harvest-set items (``corpus.DATASET_SOURCES``:
#: exercise descriptions, CRUXEval puzzles, AQuA and SVAMP word problems, StrategyQA
#: questions, tau-bench briefs) instead of text drawn from the organic pools: what a
#: content-distribution detector can tell apart; otherwise identical to their originals.
#: The content rule's bars were set looking at the first four; the others were added after
#: and are held out of its tuning
DATASETS_OF = ("stealth", "stealth_small_cards", "slow_drip", "coding_agent_imitation",
               "lockstep", "meta_prompt", "paraphrase_rewrite", "cover_traffic", "disposable",
               "rotation", "lockstep_jitter", "lockstep_wide", "disposable_own_cards",
               "stealth_cards_of_two")
CORPUS_SCENARIOS.update({
    ("coding_agent" if name == "coding_agent_imitation" else name) + "_datasets":
        replace(CORPUS_SCENARIOS[name], campaign_text="datasets") for name in DATASETS_OF})
