"""The compiled hot path against its Python twin: the same values on every input.

`distillguard.models._native` (Rust, `models/native/`) takes the per-event text
work and the account fold; the Python functions in `distillguard.models.text_signals`
and `account_state.python_update` stay the reference. Four layers, as for the
validator (`test_fuzz.py`):

- hypothesis properties over text built from the fragments the rules look at
  (fences, quotes, URLs, identifiers, numbers, names, reasoning asks, Python's
  extra whitespace \\x1c-\\x1f) and over any Unicode text: on ASCII the compiled
  twin must answer and agree; elsewhere it must agree or leave it to Python;
- hypothesis sequences of events folded into account records, fresh ones and
  ones of an earlier shape (ints where floats are now, a stale timing signature),
  and of ticks into a key's aggregate shape: the same record, byte for byte as
  the table would store it; feature streams through the population model: the
  same scores as River's pipeline;
- event-shaped documents (`test_fuzz.py`'s strategies, and plain events whose
  text varies) and the seeded mutation fuzz of `test_fuzz.py`: every record
  gives the same `Event` or `Rejection` through `parse_event` and through
  `compiled.python_twin()`;
- the benchmark streams: the same events, account records, aggregates and
  alerts through both, byte for byte, and the recorded alerts
  (`test_benchmark_alerts.py`) through the Python twin too.

Where cargo is on PATH the extension must have been built: an optional build that
failed silently would otherwise leave only the Python twin tested.
"""

from __future__ import annotations

import functools
import random
import shutil
import sys
from dataclasses import replace
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distillguard.models import account_state, compiled, events, fingerprints, text_signals
from distillguard.models.account_state import AccountState, python_update
from distillguard.models.compiled import python_twin
from distillguard.models.content import embedder, pack
from distillguard.models.cooccurrence import SIGNATURE
from distillguard.models.events import Event, Rejection, parse_event
from distillguard.models.fingerprints import FingerprintAggregate, Tick, python_update_shape
from distillguard.models.replay import Backtest
from distillguard.models.scoring import PopulationModel
from tests.models import test_benchmark_alerts
from tests.models.test_fuzz import (
    FUZZ_SEED,
    FUZZ_TOTAL,
    KINDS,
    SEEDS,
    _encode,
    fuzz_cases,
    json_values,
)

needs_twin = pytest.mark.skipif(compiled.NATIVE is None,
                                reason="the compiled extension is not installed")
PROPERTY = settings(max_examples=1500, deadline=None, database=None)


def test_the_extension_is_built_where_a_toolchain_is() -> None:
    if shutil.which("cargo") is None:
        pytest.skip("no Rust toolchain here: the Python twin runs")
    assert compiled.load("auto") is not None, (
        "cargo is on PATH but distillguard.models._native did not build: see pip's output")
    assert compiled.implementation() == ("python" if compiled.load() is None else "compiled")


def test_the_setting_is_checked_and_named(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match=compiled.SETTING):
        compiled.load("fast")
    assert compiled.load("off") is None
    # as where it is not installed: no module, and no attribute left by an earlier import
    monkeypatch.setitem(sys.modules, "distillguard.models._native", None)
    monkeypatch.delattr(sys.modules["distillguard.models"], "_native", raising=False)
    assert compiled.load("auto") is None
    with pytest.raises(compiled.NativeUnavailable, match=f"{compiled.SETTING}=require"):
        compiled.load("require")


FRAGMENTS = (
    "```", "```python\n", "`x`", "`", '"', "'", "'quoted text'", '"a"', "http://a.b/c?d=1",
    "https://", "www.example.org", "snake_case", "camelCase", "a.b.c", "call()", "_x",
    "12", "-3.5", "1,000", "12:30", "3/4", "+7", "Bob", "Alice Smith", ", Carol", "; Dan",
    ": Eve", " ", "  ", "\n", "\t", "\r\n", "\x0b", "\x0c", "\x1c", "\x1f", ".", "!", "?",
    ";", ":", "step by step", "Step-By-Step", "show your work", "chain of thought",
    "think it through", "each step", "derive", "walk me through", "before the final answer",
    "explain", "reasoning", "<thinking>", "let's think", "def", "class", "bug", "c++",
    "unit tests", "stack trace", "import", "the", "a", "of", "X", "Z", "word", "<id>", "<n>",
)
ascii_text = st.lists(st.sampled_from(FRAGMENTS) | st.text(st.characters(max_codepoint=127),
                                                           max_size=6),
                      max_size=40).map("".join)
any_text = st.text(max_size=300) | st.lists(
    st.sampled_from(FRAGMENTS) | st.text(max_size=4), max_size=30).map("".join)


@needs_twin
@PROPERTY
@given(st.none() | ascii_text, st.none() | ascii_text, st.booleans())
def test_ascii_text_gives_the_same_signals(prompt: str | None, system: str | None,
                                           coding: bool) -> None:
    assert text_signals.TWIN is not None
    got = text_signals.TWIN.signals(prompt, system, coding)
    assert got is not None, "ASCII text is the compiled twin's to analyse"
    assert got == text_signals.python_signals(prompt, system, coding)


@needs_twin
@PROPERTY
@given(st.none() | any_text, st.none() | any_text, st.booleans())
def test_any_text_gives_the_same_signals_or_goes_to_python(
        prompt: str | None, system: str | None, coding: bool) -> None:
    assert text_signals.TWIN is not None
    got = text_signals.TWIN.signals(prompt, system, coding)
    assert got is None or got == text_signals.python_signals(prompt, system, coding)


#: what the compiled twin's hand-written scanners (`models/native/src/scan.rs`) decide on:
#: runs of word characters with underscores, capitals, dots and calls (`_IDENT`), signs,
#: digits and separators (`_NUMBER`), placeholders and `<` that open none (`_WORD`), and
#: capitalised words after clause marks, next to the substitutions before them
SCANNED = (
    "a", "ab", "Ab", "aB", "AB", "_", "__", "a_", "_a", "a_b", "A_b", "9_a", "x9", "9", "07",
    "3.14", "a.b", ".", "..", "a.", ".a", "()", "(", ")", "f()", "_()", "9()", "F()", "-",
    "+", "-1", "+2", ",", ":", "/", "1,", "1:2", "1/2/3", "<", ">", "<a>", "<A_9>", "<>",
    "< a>", "<id>", "<n>", " ", ", ", "; ", ": ", "\n", "Bob", "Cy", "Dz9", "camelCase",
    "snake_case", "a.b.c", "x.y()", "'", '"', "`", "```", "http://x", "www.", "e.g.",
)
dense_text = st.lists(st.sampled_from(SCANNED) | st.characters(max_codepoint=127),
                      max_size=50).map("".join)
#: the scanners' corners, each with its neighbours on both sides
SCANNED_EXAMPLES = (
    "__init__() and _x, x_ or a_ b", "fooBar.baz(); aBc dE", "9abc() 9_a a9() _()", "Ab()",
    "v1.2.3-rc +-1 1.,2 1..2 -.5 3:4/5,6 a1b2", "<id>x <a_b> <<n>> <a b> <> x<y>z <A>",
    "x, Bob; Carol: Dan. Eve", "a Bob2 A Bob 1 Bob x  Bob", "`x` Bob \"q\" Bob 'it' Bob",
    "it's 'ok' Bob, see http://x.y/z Carol", "a.b.c().d x.y.() .a. e.g. i.e.,",
    "```py\nsnake_case = 1\n``` then fooBar 12 Ann", "12ab_cd 3.14.15 1e5 0x1F",
)


@needs_twin
def test_the_scanners_take_the_rules_they_were_written_for() -> None:
    """A pattern changed in `text_signals` takes the regex again until its scanner is changed
    too: then this fails, so the change is seen (update the scanner and `SCANNED`, or drop
    the scanner)."""
    assert text_signals.TWIN is not None
    assert text_signals.TWIN.engines == dict.fromkeys(["ident", "number", "word"], "scanner")
    assert _regex_twin().engines == dict.fromkeys(["ident", "number", "word"], "regex")


@functools.cache
def _regex_twin() -> Any:
    """The compiled twin with every rule through the regex crate (no pattern is verbatim
    one a scanner was written for)."""
    assert compiled.NATIVE is not None
    patterns = {name: f"(?:{p})" for name, p in text_signals.native_patterns().items()}
    return compiled.NATIVE.TextSignals(
        patterns, text_signals.CLAUSE_WORDS, text_signals.MAX_ANALYSED_CHARS,
        text_signals.HEADER_CHARS, text_signals.HEADER_MIN_CHARS)


@needs_twin
@PROPERTY
@given(dense_text | st.sampled_from(SCANNED_EXAMPLES), st.booleans())
def test_the_scanners_agree_with_python_and_the_regex_crate(prompt: str, coding: bool) -> None:
    assert text_signals.TWIN is not None
    want = text_signals.python_signals(prompt, None, coding)
    assert text_signals.TWIN.signals(prompt, None, coding) == want
    assert _regex_twin().signals(prompt, None, coding) == want


@needs_twin
@pytest.mark.parametrize("prompt", SCANNED_EXAMPLES)
def test_the_scanners_corners(prompt: str) -> None:
    assert text_signals.TWIN is not None
    assert text_signals.TWIN.signals(prompt, None, True) == text_signals.python_signals(
        prompt, None, True), text_signals.template_skeleton(prompt)


@needs_twin
def test_long_prompts_past_the_analysed_and_header_limits() -> None:
    rng = random.Random(7)
    words = [f for f in FRAGMENTS if f.strip()]
    for n in (399, 400, 401, 2_000, text_signals.MAX_ANALYSED_CHARS + 50, 40_000):
        prompt = " ".join(rng.choice(words) for _ in range(n))[:n]
        for text in (prompt, "Instruction line of some length, at least 32.\n" + prompt):
            assert text_signals.TWIN is not None
            assert (text_signals.TWIN.signals(text, None, True)
                    == text_signals.python_signals(text, None, True))


@needs_twin
@PROPERTY
@given(any_text | ascii_text | st.just("  a  b "))
def test_any_text_pools_to_the_same_bits(text: str) -> None:
    """The token rows of any text (runs of spaces, no tokens) sum to the same float32 bits
    through the compiled pooler as through numpy, and give the same features."""
    model = embedder()
    assert model is not None
    mine = model._pooled(text)
    with python_twin():
        theirs = model._pooled(text)
        want = model.features(text)
    assert (mine is None) == (theirs is None)
    if mine is not None and theirs is not None:
        assert mine.dtype == theirs.dtype and mine.tobytes() == theirs.tobytes()
    got = model.features(text)
    assert (got is None and want is None) or (
        got is not None and want is not None and got.tobytes() == want.tobytes())


def _both(raw: bytes | None) -> tuple[object, object]:
    compiled_result = parse_event(raw)
    with python_twin():
        return compiled_result, parse_event(raw)


plain = {k: v for k, v in SEEDS[1].items() if k not in ("ts", "account_created")} | {
    "ts": 1_767_225_600.25, "prompt": "Think step by step. Implement parse_config() in Python."}


@needs_twin
@PROPERTY
@given(st.sampled_from([*SEEDS, plain]),
       st.dictionaries(st.sampled_from(list(KINDS)) | st.text(max_size=8), json_values,
                       max_size=4),
       st.sets(st.sampled_from(list(KINDS)), max_size=3), st.booleans())
def test_event_shaped_documents_parse_the_same(seed: dict[str, object],
                                               override: dict[str, object], drop: set[str],
                                               ascii_only: bool) -> None:
    doc = {k: v for k, v in {**seed, **override}.items() if k not in drop}
    got, want = _both(_encode(doc, ascii_only))
    assert got == want


@needs_twin
@PROPERTY
@given(ascii_text, st.none() | ascii_text, st.none() | st.sampled_from(["coding", "chat"]),
       st.none() | st.integers(0, 3), st.none() | st.sampled_from(["0123456789ABCDEF"]))
def test_plain_events_take_the_compiled_path_and_parse_the_same(
        prompt: str, system: str | None, task: str | None, tools: int | None,
        prompt_fp: str | None) -> None:
    doc = {**plain, "prompt": prompt, "system": system, "task": task, "tools": tools,
           "prompt_fp": prompt_fp}
    raw = _encode({k: v for k, v in doc.items() if v is not None}, True)
    assert events._FAST is not None and events._FAST.fields(raw) is not None
    got, want = _both(raw)
    assert got == want


@needs_twin
def test_the_seeded_fuzz_parses_the_same_through_both() -> None:
    raws = [case.raw for case in fuzz_cases(random.Random(FUZZ_SEED), FUZZ_TOTAL)]
    compiled_results = [parse_event(raw) for raw in raws]
    with python_twin():
        python_results = [parse_event(raw) for raw in raws]
    differ = [(raw, a, b) for raw, a, b in zip(raws, compiled_results, python_results,
                                               strict=True) if a != b]
    assert not differ, f"{len(differ)} of {len(raws)} records differ, e.g. {differ[:3]}"


T0 = 1_767_225_600.0
_VECTORS = [pack(np.random.default_rng(i).uniform(-0.17, 0.17, 64)) for i in range(3)]
#: steps between an account's events: repeats, a bucket, an onset, the hour-histogram
#: step, beyond the late tolerance, days idle, and late ones
_STEPS = (0.0, 0.5, 1.0, 19.0, 20.0, 60.0, 61.0, 600.0, 601.0, 3_601.0, 86_400.0 * 3, -10.0,
          -3_000.0, -7_200.0, 1e-3)
fold_events = st.builds(
    Event,
    event_id=st.text(st.characters(max_codepoint=127), min_size=1, max_size=8)
    | st.text(min_size=1, max_size=4),  # lone surrogates: the Python twin's
    ts=st.just(0.0), account_id=st.just("a"), model=st.just("m"),
    input_tokens=st.integers(0, 2_000_000), output_tokens=st.integers(0, 2_000_000),
    stop_reason=st.none() | st.sampled_from(["max_tokens", "end_turn", ""]),
    turns=st.none() | st.integers(1, 60), tools=st.none() | st.integers(0, 9),
    tool_calls=st.none() | st.integers(0, 9),
    template_fp=st.none() | st.sampled_from([f"{i:016x}" for i in range(9)]),
    system_fp=st.none() | st.sampled_from(["", "00000000000000aa", "00000000000000bb"]),
    focus=st.none() | st.booleans(), cot=st.none() | st.booleans(),
    src=st.none() | st.tuples(st.integers(0, 3), st.integers(0, 10**6)).map(list),
    content=st.none() | st.sampled_from(_VECTORS),
    header_fp=st.none() | st.sampled_from(["h1", "h2", "h3"]),
)


def _older_record() -> dict[str, Any]:
    """A record as an earlier release could have stored it: ints where floats are now,
    a timing signature whose minima do not name their buckets (`cooccurrence._BARE`)."""
    record = AccountState().as_dict() | {
        "n": 3, "first": int(T0), "last": int(T0) + 100, "hours_ts": int(T0), "r_hour": 2,
        "r_day": 3, "hours": [0] * 23 + [3], "tools": 1, "gaps": 2, "text_n": 2,
        "tpl": [["0000000000000001", 2]], "tsig": [2, 0, *([1 << 31] * SIGNATURE)],
        "offs": {"0": 5}, "ids": [1, 2, 3], "sys_fp": "00000000000000aa"}
    return record


@needs_twin
@PROPERTY
@given(st.lists(st.tuples(st.sampled_from(_STEPS), fold_events), min_size=1, max_size=40),
       st.booleans(), st.sampled_from([60.0, 3600.0]))
def test_event_sequences_fold_into_the_same_account_record(
        steps: list[tuple[float, Event]], older: bool, late_tolerance: float) -> None:
    record = _older_record() if older else AccountState().as_dict()
    mine = AccountState.from_dict(orjson.loads(orjson.dumps(record)))
    theirs = AccountState.from_dict(orjson.loads(orjson.dumps(record)))
    assert account_state.FOLD is not None
    ts = T0 + 200.0
    for step, ev in steps:
        ts += step
        ev.ts = ts
        got = account_state.FOLD.update(mine.__dict__, ev, late_tolerance)
        if got is None:  # not the compiled twin's (an id with lone surrogates): nothing changed
            assert not ev.event_id.isascii(), f"the compiled twin declined {ev}"
            got = python_update(mine, ev, late_tolerance)
        assert got == python_update(theirs, ev, late_tolerance)
        assert orjson.dumps(mine.as_dict()) == orjson.dumps(theirs.as_dict()), ev


ticks = st.builds(
    Tick, account=st.sampled_from(["a", "b", "c"]), ts=st.just(0.0), score=st.just(0.5),
    events=st.just(9),
    keys=st.lists(st.sampled_from([f"tpl:{i}" for i in range(7)] + ["asn:1", "ua:x|"]),
                  max_size=5).map(tuple),
    new_account=st.booleans(), model=st.sampled_from(["", *(f"m{i}" for i in range(10))]))


@needs_twin
@PROPERTY
@given(st.lists(st.tuples(st.sampled_from(_STEPS), ticks,
                          st.sampled_from([0.0, 0.5, 3.0, 1e6])), min_size=1, max_size=40),
       st.sampled_from(["tpl:1", "asn:1", "sys:x"]), st.booleans())
def test_tick_sequences_give_the_same_aggregate_shape(
        steps: list[tuple[float, Tick, float]], key: str, older: bool) -> None:
    record = FingerprintAggregate().as_dict()
    if older:  # ints where floats are now
        record |= {"ticks": 2, "first": int(T0), "last": int(T0), "rate": 2, "burst": 1,
                   "tpls": [["tpl:1", 2]], "tpl_ticks": 2, "models": {"m1": int(T0)}}
    mine = FingerprintAggregate.from_dict(orjson.loads(orjson.dumps(record)))
    theirs = FingerprintAggregate.from_dict(orjson.loads(orjson.dumps(record)))
    assert fingerprints.SHAPE is not None
    ts = T0 + 200.0
    for step, tick, burst in steps:
        ts += step
        tick = replace(tick, ts=ts)
        assert fingerprints.SHAPE.update(mine.__dict__, key, tick, burst), tick
        python_update_shape(theirs, key, tick, burst)
        assert orjson.dumps(mine.as_dict()) == orjson.dumps(theirs.as_dict()), tick


@needs_twin
def test_ticks_decoded_from_their_pack_take_the_compiled_fold() -> None:
    """A tick as the aggregate step decodes it (JSON has no tuples) is one the compiled twin
    takes: a worker must not fall back to the Python fold on every tick."""
    tick = Tick("a", T0, 0.5, 9, ("tpl:1", "asn:1"), True, model="m1")
    [[keys, doc]] = orjson.loads(orjson.dumps([(list(tick.keys), tick)]))
    assert Tick.from_doc(doc) == tick
    assert fingerprints.SHAPE is not None
    assert fingerprints.SHAPE.update(FingerprintAggregate().__dict__, keys[1],
                                     Tick.from_doc(doc), 0.0)


@needs_twin
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_population_model_scores_as_rivers_pipeline(seed: int) -> None:
    """Feature streams with constant features, repeats, NaN, infinities and outliers:
    River's `MinMaxScaler | HalfSpaceTrees` and the compiled forest it hands its trees
    to give the same score to the last bit (and the same int 0 in the first window)."""
    rng = random.Random(seed)
    special = [0.0, 1.0, -1.0, 5.0, 1e9, float("nan"), float("inf"), float("-inf")]

    def value(i: int) -> float:
        if i == 0:
            return 0.5  # constant: a zero range scales to 0.0
        if rng.random() < 0.03 * seed:
            return rng.choice(special)
        return rng.gauss(i, 1.0) if i % 2 else rng.random()

    xs = [{f"f{i}": value(i) for i in range(14)} for _ in range(2_000)]
    mine = PopulationModel(warmup=0)
    with python_twin():
        rivers = PopulationModel(warmup=0)
        want = [rivers.score_and_learn(x) for x in xs]
    got = [mine.score_and_learn(x) for x in xs]
    assert mine._forest is not None and rivers._forest is None
    differ = [(i, a, b) for i, (a, b) in enumerate(zip(got, want, strict=True))
              if repr(a) != repr(b)]
    assert not differ, f"{len(differ)} of {len(xs)} scores differ, e.g. {differ[:3]}"


def _parsed(streams: list[tuple[str, list[bytes]]]) -> list[list[Event | Rejection]]:
    return [[parse_event(line) for line in lines] for _, lines in streams]


def _replayed(lines: list[bytes]) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """A stream's alerts, account records and aggregates (the content sampler included)."""
    backtest = Backtest()
    alerts: list[dict[str, Any]] = []
    for line in lines:
        ev = backtest.detector.parse(line)
        if isinstance(ev, Event):
            alerts.extend(backtest.process(ev).alerts)
    return alerts, backtest.accounts, backtest.aggregates


@needs_twin
def test_the_benchmark_streams_give_the_same_events_records_and_alerts() -> None:
    """Every stream's events, alerts, account records and aggregates through both, byte
    for byte as the tables and the alerts topic would hold them; `test_benchmark_alerts.py`
    holds every stream's alerts (compiled) to the fixture recorded before the twin existed.
    """
    streams = list(test_benchmark_alerts.scenario_streams())
    got = _parsed(streams)
    with python_twin():
        want = _parsed(streams)
    for (name, _), mine, theirs in zip(streams, got, want, strict=True):
        assert mine == theirs, f"{name}: the events differ between the compiled and Python twins"
    assert events._FAST is not None
    lines = [line for _, stream in streams for line in stream]
    fast = sum(events._FAST.fields(line) is not None for line in lines)
    assert fast >= 0.9 * len(lines), f"the compiled path took {fast} of {len(lines)} records"
    alerts = 0
    for name, stream in streams:
        compiled_state = _replayed(stream)
        with python_twin():
            python_state = _replayed(stream)
        for what, a, b in zip(("alerts", "account records", "aggregates"), compiled_state,
                              python_state, strict=True):
            assert orjson.dumps(a) == orjson.dumps(b), (
                f"{name}: the {what} differ between the compiled and Python twins")
        alerts += len(compiled_state[0])
    assert alerts > 100, "too few alerts to compare"


@needs_twin
def test_python_twin_sets_every_compiled_twin_aside_and_back() -> None:
    held = [(sys.modules[module], name) for module, name in compiled._TWINS]
    assert {name for _, name in held} >= {"_FAST", "TWIN", "FOLD", "SHAPE"}
    before = [getattr(module, name) for module, name in held]
    assert all(value is not None for value in before)
    with python_twin():
        assert all(getattr(module, name) is None for module, name in held)
    assert [getattr(module, name) for module, name in held] == before
