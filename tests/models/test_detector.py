"""The per-account detector on hand-made traffic: features, scoring, alert episodes."""

from __future__ import annotations

import random

from distillguard.models.account_state import AccountState, hour_coverage, update
from distillguard.models.accounts import MEMBERSHIP_TICKS, AccountScorer
from distillguard.models.config import DetectorConfig
from distillguard.models.events import Event
from distillguard.models.signals import RAMPS
from distillguard.models.text_signals import elicits_chain_of_thought, template_fingerprint

T0 = 1_767_225_600.0
TEMPLATES = [
    "Implement a function named {0} in Python that processes {1} items. "
    "Think step by step and show your full reasoning before the final answer.",
    "Write unit tests for the class {0} handling {1} cases. Explain your reasoning in detail.",
]


def extraction_events(account: str, n: int, rng: random.Random) -> list[Event]:
    """A harvesting account: templated CoT coding prompts, single turn, long outputs, 24/7."""
    out = []
    for i in range(n):
        prompt = TEMPLATES[i % 2].format(f"handler_{rng.randint(0, 999)}", rng.randint(1, 500))
        out.append(Event(
            event_id=f"{account}-{i}", ts=T0 + i * 60.0 + rng.uniform(-5, 5), account_id=account,
            model="frontier-4", input_tokens=80, output_tokens=rng.randint(2500, 4000),
            max_tokens=4096, stop_reason="max_tokens" if i % 3 else "end_turn", turns=1,
            tools=0, tool_calls=0, template_fp=template_fingerprint(prompt), focus=True,
            cot=elicits_chain_of_thought(prompt), prompt_fp=f"{i:016x}",
        ))
    return out


def human_events(account: str, n: int, rng: random.Random) -> list[Event]:
    """A person chatting: sessions in waking hours, conversations, varied prompts."""
    out = []
    ts = T0 + 8 * 3600
    for i in range(n):
        ts += rng.choice([30, 90, 240, 600, 3600 * 10]) if i % 6 else 3600 * rng.uniform(3, 14)
        out.append(Event(
            event_id=f"{account}-{i}", ts=ts, account_id=account, model="frontier-4",
            input_tokens=rng.randint(200, 3000), output_tokens=rng.randint(100, 700),
            max_tokens=4096, stop_reason="end_turn", turns=1 + 2 * (i % 6), tools=0,
            tool_calls=0, template_fp=f"{rng.getrandbits(64):016x}",
            focus=rng.random() < 0.2, cot=rng.random() < 0.02, prompt_fp=f"{i:016x}",
        ))
    return out


def run(events: list[Event],
        config: DetectorConfig | None = None) -> tuple[AccountScorer, dict, list]:
    det = AccountScorer(config or DetectorConfig(warmup=10**9))
    records: dict[str, dict] = {}
    alerts = []
    for ev in sorted(events, key=lambda e: e.ts):
        outcome = det.process(ev, records.get(ev.account_id))
        if outcome.record is not None:
            records[ev.account_id] = outcome.record
        alerts.extend(outcome.alerts)
    return det, records, alerts


def test_extraction_account_alerts_with_reasons_and_human_does_not() -> None:
    rng = random.Random(3)
    _, records, alerts = run(extraction_events("x", 300, rng) + human_events("h", 300, rng))
    subjects = {a["subject"] for a in alerts}
    assert subjects == {"x"}
    worst = max(alerts, key=lambda a: a["score"])
    assert worst["severity"] == "critical" and worst["action"] == "suspend"
    signals = [r["signal"] for r in worst["reasons"]]
    assert signals[0] == "cot_elicitation"
    assert {"long_outputs", "template_reuse", "coding_agentic_focus"} <= set(signals)
    contributions = [r["contribution"] for r in worst["reasons"]]
    assert contributions == sorted(contributions, reverse=True)
    assert records["h"]["score"] < 0.3


def test_one_alert_per_severity_episode_and_stable_ids() -> None:
    rng = random.Random(5)
    events = extraction_events("x", 400, rng)
    _, _, alerts = run(events)
    severities = [a["severity"] for a in alerts]
    assert len(severities) == len(set(severities)), "a severity was sent twice in one episode"
    _, _, again = run(events)
    assert [a["alert_id"] for a in again] == [a["alert_id"] for a in alerts]


def test_redelivered_event_counts_once() -> None:
    rng = random.Random(1)
    events = extraction_events("x", 50, rng)
    det = AccountScorer(DetectorConfig(warmup=10**9))
    rec = None
    for ev in events + events[-5:]:
        outcome = det.process(ev, rec)
        rec = outcome.record or rec
    assert rec is not None and rec["n"] == 50


def test_score_ticks_follow_event_count_not_calls() -> None:
    rng = random.Random(2)
    cfg = DetectorConfig(tick_events=10, min_events=10, warmup=10**9)
    det = AccountScorer(cfg)
    rec = None
    ticks = []
    for ev in extraction_events("x", 95, rng):
        outcome = det.process(ev, rec)
        rec = outcome.record
        if outcome.tick is not None:
            ticks.append(outcome.tick.events)
    assert len([n for n in ticks if n >= cfg.min_events]) == 9
    assert [n for n in ticks if n < cfg.min_events] == list(MEMBERSHIP_TICKS)


def test_hour_coverage_separates_round_the_clock_from_daytime() -> None:
    machine, person = AccountState(), AccountState()
    rng = random.Random(0)
    for ev in extraction_events("x", 72 * 4, rng):  # every ~minute... spread over 3 days:
        ev.ts = T0 + (ev.ts - T0) * 15
        update(machine, ev)
    for i in range(300):
        day, hour = divmod(i, 100)
        ts = T0 + day * 86400 + 9 * 3600 + hour * 300  # 09:00 to ~17:20
        update(person, Event(f"p{i}", ts, "p", "m", 1, 1))
    assert hour_coverage(machine) > 0.9
    assert hour_coverage(person) < 0.45


def test_thresholds_validate_order() -> None:
    try:
        DetectorConfig(threshold_low=0.9, threshold_medium=0.5)
    except ValueError:
        pass
    else:
        raise AssertionError("out-of-order thresholds accepted")


def test_late_events_count_but_stay_out_of_timing_beyond_tolerance() -> None:
    state = AccountState()
    for i in range(20):
        update(state, Event(f"e{i}", T0 + i * 600.0, "a", "m", 1, 1))
    rate_before = state.r_day
    within = update(state, Event("late-ok", T0 + 19 * 600.0 - 1800, "a", "m", 1, 1), 3600.0)
    assert not within and state.r_day > rate_before
    rate_before, hours_before = state.r_day, list(state.hours)
    beyond = update(state, Event("late-old", T0 - 86400.0, "a", "m", 1, 1), 3600.0)
    assert beyond and state.n == 22
    assert state.r_day == rate_before and state.hours == hours_before
    assert state.first == T0 - 86400.0


def test_record_redelivered_long_after_counts_once() -> None:
    """A re-read input record (same partition and offset) is dropped however late it comes.

    After a crash the worker re-reads input it had not committed; those copies reach the
    account many events after the originals, beyond the recent-id window.
    """
    detector = AccountScorer(DetectorConfig(warmup=10**9))
    events = extraction_events("acct-r", 200, random.Random(4))
    for offset, ev in enumerate(events):
        ev.src = [3, 1000 + offset]
    record = None
    for ev in events:
        record = detector.process(ev, record).record or record
    for ev in events[:100]:  # the first hundred again, as a crash would redeliver them
        outcome = detector.process(ev, record)
        assert outcome.duplicate and outcome.alerts == [] and outcome.tick is None
    assert record is not None and record["n"] == 200
    fresh = extraction_events("acct-r", 201, random.Random(4))[200]
    fresh.src = [7, 5]  # another input partition has its own offsets
    assert not detector.process(fresh, record).duplicate


def test_tick_redelivered_after_a_crash_is_not_folded_twice() -> None:
    from distillguard.models.fingerprints import Tick, applied, fold

    tick = Tick(account="a", ts=T0, score=0.9, events=10, keys=("asn:1",), new_account=True)
    record, _ = fold(None, "asn:1", tick, DetectorConfig().link_rule(), offset=41)
    assert applied(record, 41) and applied(record, 12) and not applied(record, 42)
    assert record["ticks"] == 1 and not applied(None, 0)


def cot_evidence(pattern: list[bool]) -> float:
    """The CoT evidence of an account whose prompts elicit chain of thought as `pattern` says."""
    state = AccountState()
    for i, cot in enumerate(pattern):
        update(state, Event(event_id=f"e{i}", account_id="a", ts=float(i) * 3600.0,
                            model="m", input_tokens=10, output_tokens=10, cot=cot))
    return state.cot_ev


def test_cot_evidence_accumulates_over_a_slow_account_and_not_over_bursts() -> None:
    """Asks on every other prompt build evidence request by request; a person's burst of
    three asks, or a relay app whose users ask on one request in sixteen, stays far below
    where the signal starts to count."""
    start = RAMPS["cot_evidence"].lo
    assert cot_evidence([i % 2 == 0 for i in range(50)]) >= RAMPS["cot_evidence"].hi
    assert cot_evidence([True] * 3 + [False] * 40) < start / 2
    assert cot_evidence([i % 16 == 0 for i in range(6000)]) < start / 2
