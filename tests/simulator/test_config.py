"""Tests for the simulator's configuration: validation and the named scenarios' shapes."""

from __future__ import annotations

from collections import Counter

import pytest

from distillguard.simulator import SCENARIOS, SimConfig, generate, ground_truth, roster


def test_scenarios_are_defined_and_cheap_to_label() -> None:
    assert {"demo", "hydra", "rotating_proxies", "loud", "pivot", "paraphrase",
            "release"} <= set(SCENARIOS)
    hydra = Counter(ground_truth(SCENARIOS["hydra"]).values())
    assert hydra == {"organic": 20_000, "extraction": 2_000}
    assert len(roster(SCENARIOS["pivot"])) == 1_001


def test_demo_scenario_size_and_mix() -> None:
    cfg = SCENARIOS["demo"]
    evs = list(generate(cfg))
    assert 5_000 < len(evs) < 60_000
    truth = ground_truth(cfg)
    assert Counter(truth.values()) == {"organic": 60, "extraction": 21}
    personas = {e["sim_persona"] for e in evs}
    assert {"casual_chat", "developer_agent", "server_app", "batch_pipeline", "nat_student",
            "loud", "hydra"} <= personas


def test_invalid_config_rejected() -> None:
    with pytest.raises(ValueError):
        SimConfig(hydra_timing="random")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        SimConfig(persona_mix=(("gamer", 1.0),))
    with pytest.raises(ValueError):
        SimConfig(hydra_asns=500)
