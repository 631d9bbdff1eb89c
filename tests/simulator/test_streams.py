"""Tests for the simulator's event streams: the wire contract, determinism and the persona
and campaign shapes the detector's benchmarks rely on. Configs are kept small so the file
runs in seconds."""

from __future__ import annotations

import io
import itertools
import re
from collections import Counter, defaultdict
from dataclasses import replace
from functools import cache

import orjson

from distillguard.models.events import DAY
from distillguard.simulator import SimConfig, generate, ground_truth, write_jsonl

SMALL = SimConfig(seed=11, days=1.0, organic_accounts=40, loud_accounts=1, hydra_accounts=12,
                  pivot_accounts=1, pivot_day=0.5)

REQUIRED = {"event_id": str, "ts": float, "account_id": str, "model": str,
            "input_tokens": int, "output_tokens": int}
OPTIONAL = {"org_id": str, "api_key_id": str, "endpoint": str, "max_tokens": int,
            "stop_reason": str, "status": int, "latency_ms": float, "stream": bool, "turns": int,
            "tools": int, "tool_calls": int, "task": str, "prompt": str, "system": str,
            "client": dict, "payment_fp": str, "account_created": float}
CLIENT = {"ip": str, "asn": int, "country": str, "user_agent": str, "ja4": str, "sdk": str}
TASKS = {"coding", "agentic", "chat", "reasoning", "writing", "other"}
STOPS = {"end_turn", "max_tokens", "tool_use", "stop_sequence"}


@cache
def events(cfg: SimConfig) -> tuple[dict, ...]:
    return tuple(generate(cfg))


def per_account(evs: tuple[dict, ...]) -> Counter[str]:
    return Counter(e["account_id"] for e in evs)


def test_deterministic() -> None:
    assert list(generate(SMALL)) == list(generate(SMALL))
    assert list(generate(SMALL))[:50] != list(generate(replace(SMALL, seed=12)))[:50]


def test_ts_non_decreasing_and_in_range() -> None:
    ts = [e["ts"] for e in events(SMALL)]
    assert all(a <= b for a, b in itertools.pairwise(ts))
    assert SMALL.start_ts <= ts[0] and ts[-1] < SMALL.end_ts


def test_wire_contract_fields_and_types() -> None:
    for ev in events(SMALL):
        for name, kind in REQUIRED.items():
            assert type(ev[name]) is kind, (name, ev)
        for name, kind in OPTIONAL.items():
            if name in ev:
                assert type(ev[name]) is kind, (name, ev)
        assert ev["input_tokens"] >= 0 and ev["output_tokens"] >= 0
        assert ev["turns"] >= 1 and ev["tools"] >= 0 and ev["tool_calls"] >= 0
        assert ev["endpoint"] in {"messages", "batches"}
        assert ev.get("task", "other") in TASKS
        assert ev.get("stop_reason", "end_turn") in STOPS
        assert ev["output_tokens"] <= ev["max_tokens"]
        assert {k: type(v) for k, v in ev["client"].items()} == CLIENT
        assert ev["sim_label"] in {"organic", "extraction"}
        assert ("sim_campaign" in ev) == (ev["sim_label"] == "extraction")


def test_task_label_on_about_half_of_events() -> None:
    evs = events(SMALL)
    share = sum("task" in e for e in evs) / len(evs)
    assert 0.4 < share < 0.6


def test_event_ids_unique() -> None:
    evs = events(SMALL)
    assert len({e["event_id"] for e in evs}) == len(evs)


def test_ground_truth_agrees_with_labels() -> None:
    truth = ground_truth(SMALL)
    labels: dict[str, set[str]] = defaultdict(set)
    for ev in events(SMALL):
        labels[ev["account_id"]].add(ev["sim_label"])
    for account, seen in labels.items():
        expected = "extraction" if "extraction" in seen else "organic"
        assert truth[account] == expected
    assert set(truth.values()) == {"organic", "extraction"}
    assert len(truth) == 40 + 1 + 12 + 1




def test_hydra_accounts_quiet_and_coordinated() -> None:
    cfg = SimConfig(seed=3, days=2.0, organic_accounts=0, loud_accounts=0, hydra_accounts=40)
    evs = events(cfg)
    counts = per_account(evs)
    assert len(counts) == 40
    assert 20 <= sum(counts.values()) / 40 / cfg.days <= 30
    assert {e["sim_campaign"] for e in evs} == {"camp-hydra-1"}
    assert len({e["client"]["asn"] for e in evs}) <= cfg.hydra_asns
    assert len({e["client"]["ja4"] for e in evs}) <= 4
    assert all(e["turns"] == 1 for e in evs)
    created = [e["account_created"] for e in evs]
    assert max(created) - min(created) <= 3 * DAY  # a creation cohort
    gaps = [b["ts"] - a["ts"] for a, b in itertools.pairwise(evs)]
    mean = sum(gaps) / len(gaps)
    assert max(gaps) < 2 * mean  # a scheduler spaces the campaign's requests evenly


def test_batch_pipeline_outputs_short() -> None:
    cfg = SimConfig(days=1.0, organic_accounts=3, loud_accounts=0,
                    persona_mix=(("batch_pipeline", 1.0),))
    ok = [e for e in events(cfg) if e["status"] == 200]
    assert len(ok) > 1_000
    assert all(e["output_tokens"] <= 64 and e["endpoint"] == "batches" for e in ok)
    assert len({e["system"] for e in ok}) <= 3


def test_loud_account_rate_high() -> None:
    cfg = SimConfig(days=1.0, organic_accounts=10, loud_accounts=1)
    loud = [e for e in events(cfg) if e["sim_persona"] == "loud"]
    assert len({e["account_id"] for e in loud}) == 1
    assert len(loud) >= 2_000
    assert all(e["turns"] == 1 for e in loud)
    ok = [e for e in loud if e["status"] == 200]
    assert sum(e["stop_reason"] == "max_tokens" for e in ok) / len(ok) > 0.1


def test_organic_prompts_are_varied() -> None:
    organic = [e["prompt"] for e in events(SMALL) if e["sim_persona"] in
               ("casual_chat", "developer_agent", "nat_student")]
    assert len(set(organic)) / len(organic) > 0.7


def _shape(prompt: str) -> str:
    """Normalise the slot types a template fingerprint would erase."""
    prompt = re.sub(r"```.*?```", "C", prompt, flags=re.DOTALL)
    prompt = re.sub(r'"[^"]*"|`[^`]*`', "Q", prompt)
    return re.sub(r"\d+", "N", prompt)


def test_paraphrase_rewords_while_plain_templates_collapse() -> None:
    plain = SimConfig(days=0.5, organic_accounts=0, loud_accounts=0, hydra_accounts=30)
    para = replace(plain, hydra_paraphrase=True)
    assert len({_shape(e["prompt"]) for e in events(plain)}) <= plain.hydra_templates
    assert len({_shape(e["prompt"]) for e in events(para)}) > 30
    assert {e["sim_persona"] for e in events(para)} == {"paraphrase"}


def test_rotating_proxies_use_fresh_residential_addresses() -> None:
    cfg = SimConfig(days=0.5, organic_accounts=0, loud_accounts=0, hydra_accounts=30,
                    hydra_network="residential_rotating", hydra_timing="lockstep")
    evs = events(cfg)
    assert len({e["client"]["ip"] for e in evs}) > 0.95 * len(evs)
    assert len({e["client"]["asn"] for e in evs}) > 10


def test_release_campaign_switches_within_hours() -> None:
    cfg = SimConfig(days=2.0, organic_accounts=30, loud_accounts=0, hydra_accounts=20,
                    release_day=1.0)
    first: dict[str, float] = {}
    for ev in events(cfg):
        assert ev["model"] != cfg.new_model or ev["ts"] >= cfg.release_ts
        if ev["model"] == cfg.new_model:
            first.setdefault(ev["account_id"], ev["ts"])
    truth = ground_truth(cfg)
    campaign = [a for a, label in truth.items() if label == "extraction"]
    assert all(first[a] - cfg.release_ts < 6 * 3_600 for a in campaign)
    organic_early = [a for a, t in first.items()
                     if truth[a] == "organic" and t - cfg.release_ts < 6 * 3_600]
    assert len(organic_early) < 0.5 * 30


def test_pivot_account_has_organic_history_then_extraction() -> None:
    cfg = SimConfig(days=3.0, organic_accounts=5, loud_accounts=0, pivot_accounts=1,
                    pivot_day=2.0)
    pivot = [e for e in events(cfg) if e["sim_persona"] == "pivot"]
    pivot_ts = cfg.start_ts + 2 * DAY
    before = [e for e in pivot if e["ts"] < pivot_ts]
    after = [e for e in pivot if e["ts"] >= pivot_ts]
    assert before and all(e["sim_label"] == "organic" for e in before)
    assert len(after) > 500 and all(e["sim_label"] == "extraction" for e in after)
    assert pivot[0]["account_created"] < cfg.start_ts - 100 * DAY



def test_write_jsonl_round_trips() -> None:
    buf = io.BytesIO()
    count = write_jsonl(SMALL, buf)
    lines = buf.getvalue().splitlines()
    assert count == len(lines) == len(events(SMALL))
    assert orjson.loads(lines[0]) == events(SMALL)[0]
