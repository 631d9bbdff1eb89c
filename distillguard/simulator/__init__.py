"""Deterministic, labelled traffic simulator for LLM API gateway events.

The implementation lives in ``distillguard.simulator.streams``; this module re-exports the
names code outside the package uses.
"""

from distillguard.simulator.streams import (
    DAY,
    GRAMMAR,
    HYDRA_TEMPLATES,
    LOUD_TEMPLATES,
    SCENARIOS,
    SimConfig,
    generate,
    ground_truth,
    roster,
    write_jsonl,
)

__all__ = ["DAY", "GRAMMAR", "HYDRA_TEMPLATES", "LOUD_TEMPLATES", "SCENARIOS", "SimConfig",
           "generate", "ground_truth", "roster", "write_jsonl"]
