"""Deterministic, labelled traffic simulator for LLM API gateway events.

Why this exists: the detector cannot be evaluated on production traffic (no labels), so we
synthesise the request stream an API gateway would publish to Kafka, with organic personas
that are deliberately hard to tell apart from extraction campaigns on any single field.
Every event carries ``sim_label`` / ``sim_persona`` / ``sim_campaign`` so benchmarks can
score the detector; the detector ignores those fields. A given ``SimConfig`` always yields
byte-identical output.

The package, one idea per module:

- ``config``: ``SimConfig``, the named ``SCENARIOS`` and ``CORPUS_SCENARIOS``, the
  campaign ``FAMILIES``, labels and model names
- ``sampling``: the seeded random draws every other module shares
- ``network``: countries, ASNs, IP addresses and client software builds
- ``corpus``: real public request text (``corpora/``), its pools by capability
- ``grammar``: the organic prompt grammar and the accounts' system prompts
- ``prompts``: organic prompt text by grammar symbol, from the grammar or the corpora
- ``templates``: the campaigns' prompt templates and CoT phrasings
- ``roster``: ``Account`` and the builder of every account of a scenario, hard negatives
  and campaign families included
- ``timing``: diurnal curves, day windows and the per-persona schedules
- ``records``: one gateway record from an account's request
- ``families``: the streams of the campaign families on corpus text
- ``streams``: the per-persona and campaign streams, ``generate``, ``ground_truth``,
  ``write_jsonl``
"""

from distillguard.simulator.config import CORPUS_SCENARIOS, FAMILIES, SCENARIOS, SimConfig
from distillguard.simulator.roster import Account, roster
from distillguard.simulator.streams import generate, ground_truth, write_jsonl
from distillguard.simulator.templates import HYDRA_TEMPLATES, LOUD_TEMPLATES, Template

__all__ = ["CORPUS_SCENARIOS", "FAMILIES", "HYDRA_TEMPLATES", "LOUD_TEMPLATES", "SCENARIOS",
           "Account", "SimConfig", "Template", "generate", "ground_truth", "roster",
           "write_jsonl"]
