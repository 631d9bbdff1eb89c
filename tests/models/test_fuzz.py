"""Hostile input against `distillguard.models.events.parse_event`: it must never raise, only reject.

Why: the ingest agent hands every Kafka record to `parse_event`. An exception
there would stop the agent (or send a valid-looking but broken event onward),
and the gateway topic is written by software that has bugs and carries text
that users control. Every record must come back as an `Event` that keeps the
contract or as a `Rejection` with one of the stable dead-letter reasons.

Three layers:

- hypothesis properties over arbitrary bytes, arbitrary JSON-ish values
  (huge integers, NaN, infinities, any text) and event-shaped documents with
  arbitrary fields: never an exception, only known reasons, and every
  accepted event keeps the contract (`contract_violations`);
- a seeded mutation fuzz of `FUZZ_TOTAL` records built from valid events,
  most with the outcome the contract prescribes (`expect`), counted by
  outcome and reconciled exactly; the counts go to stdout and to
  `FUZZ_RESULTS`;
- tables of edge cases (RFC 3339, confusable ids) that read as the contract,
  and the reproducers of the validator bugs this file found, kept as
  regression tests.

Confusable ids: ids are opaque keys, so visible non-ASCII letters (Cyrillic
'\u0430' beside Latin 'a', CJK, emoji, accents in either normal form) are
legitimate and accepted: two ids that differ in code points are different
accounts, as in the gateway. What must be refused is what cannot be seen or
corrupts display: control characters, format characters (zero-width space and
joiners, bidi overrides such as U+202E, the BOM, tag characters), separators
other than the ASCII space, private-use and unassigned code points (all of
which `str.isprintable()` refuses), and also the few invisible code points
that `isprintable()` lets through (`INVISIBLE_PRINTABLE`).
"""

from __future__ import annotations

import json
import math
import random
import re
import tempfile
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distillguard.models.events import (
    MAX_ID_LEN,
    MAX_RECORD_BYTES,
    MAX_TS,
    MIN_TS,
    REASONS,
    Event,
    Rejection,
    parse_event,
)

FUZZ_SEED = 20_260_301
FUZZ_TOTAL = 100_000
FUZZ_RESULTS = Path(tempfile.gettempdir()) / "distillguard-fuzz-results.json"
MARKER = "PRIVATE-PROMPT-5d1c"  # in every seed's text: must never reach an Event
MAX_SAFE_INT = 1 << 53
MAX_STRING = 1024

#: Unicode Default_Ignorable_Code_Point (DerivedCoreProperties.txt): rendered as nothing
_DEFAULT_IGNORABLE = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)
#: the invisible ones `str.isprintable()` does not refuse
INVISIBLE_PRINTABLE = frozenset(
    chr(c) for lo, hi in _DEFAULT_IGNORABLE for c in range(lo, hi + 1) if chr(c).isprintable())

SEEDS: tuple[dict[str, object], ...] = (
    {"event_id": "evt-000001", "ts": 1_767_225_600.25, "account_id": "acct-0001",
     "model": "frontier-4", "input_tokens": 120, "output_tokens": 900},
    {"event_id": "evt-7f3a-0002", "ts": "2026-03-01T12:00:00.250Z", "account_id": "acct-42",
     "model": "frontier-4", "input_tokens": 812, "output_tokens": 4096, "org_id": "org-7",
     "api_key_id": "key-3", "endpoint": "/v1/messages", "max_tokens": 4096,
     "stop_reason": "max_tokens", "status": 200, "latency_ms": 5123.5, "stream": True,
     "turns": 1, "tools": 0, "tool_calls": 0, "task": "coding", "payment_fp": "pm-91ab",
     "account_created": "2025-12-01T08:00:00+01:00",
     "prompt": f"Think step by step and show your full reasoning. Implement parse_config() "
               f"in Python for \"settings.toml\" with 42 keys. {MARKER}",
     "system": f"You are an expert coding agent. {MARKER}",
     "client": {"ip": "203.0.113.9", "asn": 64500, "country": "NL",
                "user_agent": "python-httpx/0.27", "ja4": "t13d1516h2_8daaf6152771_e5627efa2ab1",
                "sdk": "py/1.2"}},
    {"event_id": "evt-fp-0003", "ts": 1_767_300_000,
     "account_id": "\u0430\u043a\u043a\u0430\u0443\u043d\u0442-7",  # Cyrillic "akkaunt"
     "model": "frontier-4-mini", "input_tokens": 0, "output_tokens": 0,
     "prompt_fp": "0123456789abcdef", "system_fp": "FEDCBA9876543210", "turns": 3,
     "client": {"asn": 13335, "country": "DE"}},
    {"event_id": "\u00e9vt-0004", "ts": "2026-01-01 00:00:00.123456789+05:30",
     "account_id": "\u8d26\u6237-\U0001f642-4",  # CJK "account", an emoji
     "model": "frontier-4", "input_tokens": 5, "output_tokens": 7,
     # Hebrew, Chinese, emoji, accents, an em dash; Arabic
     "prompt": f"\u05e9\u05dc\u05d5\u05dd \u4f60\u597d \U0001f642 caf\u00e9 \u2014 "
               f"r\u00e9sum\u00e9 {MARKER}",
     "system": f"{MARKER} \u0645\u0631\u062d\u0628\u0627"},
)

#: field -> kind, for the expectations of wrong values
KINDS = {
    "event_id": "id", "ts": "time", "account_id": "id", "model": "string",
    "input_tokens": "count", "output_tokens": "count", "org_id": "string",
    "api_key_id": "string", "endpoint": "string", "max_tokens": "count",
    "stop_reason": "string", "status": "count", "latency_ms": "number", "stream": "flag",
    "turns": "turns", "tools": "count", "tool_calls": "count", "task": "string",
    "prompt": "text", "system": "text", "prompt_fp": "hex16", "system_fp": "hex16",
    "client": "object", "payment_fp": "string", "account_created": "time",
}
CLIENT_KINDS = {"ip": "string", "asn": "count", "country": "string", "user_agent": "string",
                "ja4": "string", "sdk": "string"}
ID_FIELDS = ("event_id", "account_id")
REQUIRED = frozenset({"event_id", "ts", "account_id", "model", "input_tokens", "output_tokens"})

#: JSON texts orjson must refuse wherever they stand: never numbers, never a crash
INVALID_LITERALS = (
    b"NaN", b"-NaN", b"Infinity", b"-Infinity", b"nan", b"inf", b"1e309", b"-1e309",
    b"1" + b"0" * 400, b"-" + b"9" * 400, b"01", b"+1", b".5", b"1.", b"0x10", b"'x'",
    b"undefined", b"True", b"None", b'"\\ud800"', b'"\\udfff"', b'"\\ud83dx"', b'"\\u12"',
)
#: values of every JSON type, plus integers at the edges of what orjson and the contract take
TYPE_PROBES: tuple[object, ...] = (
    None, True, False, 0, 1, -1, 7, 1.5, 0.0, -0.0, 1e-400, MAX_SAFE_INT - 1, MAX_SAFE_INT,
    2**63, 2**64 - 1, -(2**63), "", "x", "12", "2026-01-01T00:00:00Z", [], [1], {}, {"a": 1},
)
BIG_INT_LITERALS = (b"9223372036854775808", b"18446744073709551616", b"1180591620717411303424",
                    b"-9223372036854775809")
#: invalid UTF-8: lone byte, overlong, encoded surrogate, above U+10FFFF, truncated, stray
BAD_UTF8 = (b"\xff", b"\xfe", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xed\xbf\xbf",
            b"\xf4\x90\x80\x80", b"\xf8\x88\x80\x80\x80", b"\x80", b"\xbf", b"\xe2\x82",
            b"\xf0\x9f\x98")

#: characters put into ids: category -> (characters, expected reason or "accepted")
ID_CHARS: dict[str, tuple[str, str]] = {
    "control": ("\x00\x01\x07\x08\t\n\r\x1b\x7f\x80\x85\x9f", "bad_value"),
    # line and paragraph separators, no-break, em, ideographic and math spaces
    "separator": ("\u2028\u2029\u00a0\u2003\u3000\u205f", "bad_value"),
    # zero-width space/joiners, LRM/RLM, bidi embeddings and overrides (U+202E) and isolates,
    # word joiner, BOM, soft hyphen, Arabic letter mark, Mongolian vowel separator, tags
    "format": ("\u200b\u200c\u200d\u200e\u200f\u202a\u202d\u202e\u2066\u2069\u2060\ufeff"
               "\u00ad\u061c\u180e\U000e0001\U000e0041\U000e007f", "bad_value"),
    "private_or_unassigned": ("\ue000\uf8ff\U000f0000\U0010fffd\u0378\U0001fffe", "bad_value"),
    # Cyrillic a/o/e, Greek omicron, fullwidth e and 1, a lone combining acute, precomposed e
    # acute, mathematical bold a, titlecase dz, sharp s, dotless i, dotted capital I
    "confusable": ("\u0430\u03bf\u0435\uff45\uff11\u0301\u00e9\U0001d41a\u01c5\u00df\u0131\u0130",
                   "accepted"),
    # CJK, emoji, Arabic, Hebrew, Greek, Devanagari with a vowel sign, a rune, n-ary sum
    "non_ascii": ("\u8d26\u6237\U0001f642\U0001f600\u062d\u05e9\u03b1\u0915\u093f\u16a0\u2211",
                  "accepted"),
    "invisible_printable": ("".join(sorted(INVISIBLE_PRINTABLE)), "bad_value"),
}


@dataclass(frozen=True, slots=True)
class Case:
    """One record to parse, what the contract says it must give, and where it came from.

    `expect` is "accepted", a reason, or None when any outcome but a crash is
    fine (random byte damage); `ts` is the event time an accepted record must
    carry.
    """

    raw: bytes | None
    expect: str | None
    tag: str
    ts: float | None = None


@dataclass
class Tally:
    """Outcome counts of a fuzz run, and its disagreements with the contract."""

    tried: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    by_tag: dict[str, Counter[str]] = field(default_factory=dict)
    disagreements: int = 0
    examples: list[str] = field(default_factory=list)

    def record(self, case: Case, outcome: str, problems: set[str]) -> None:
        self.tried += 1
        self.outcomes[outcome] += 1
        self.by_tag.setdefault(case.tag, Counter())[outcome] += 1
        if problems:
            self.disagreements += 1
            if len(self.examples) < 25:
                self.examples.append(f"{case.tag}: {', '.join(sorted(problems))}: "
                                     f"{_show(case.raw)}")

    @property
    def rejected_by_reason(self) -> dict[str, int]:
        return {r: n for r, n in sorted(self.outcomes.items()) if r in REASONS}

    def summary(self) -> dict[str, object]:
        return {
            "seed": FUZZ_SEED, "tried": self.tried, "accepted": self.outcomes["accepted"],
            "rejected": sum(self.rejected_by_reason.values()),
            "rejected_by_reason": self.rejected_by_reason,
            "crashed": self.outcomes["crash"], "disagreements": self.disagreements,
            "by_mutation": {t: dict(c) for t, c in sorted(self.by_tag.items())},
        }


def _show(raw: bytes | None, limit: int = 160) -> str:
    return "None" if raw is None else f"{len(raw)} bytes {raw[:limit]!r}"


# -- the contract, checked on what parse_event returns ------------------------------------


def outcome_of(raw: bytes | None) -> tuple[str, set[str], Event | None]:
    """parse_event's outcome ("accepted", a reason, or "crash") and the contract it broke."""
    try:
        out = parse_event(raw)
    except Exception as exc:  # the one thing that must never happen
        return "crash", {f"raised {type(exc).__name__}: {exc}"}, None
    if isinstance(out, Rejection):
        ok = out.reason in REASONS and isinstance(out.error, str) and out.error
        return out.reason, set() if ok else {f"bad rejection {out!r}"}, None
    if not isinstance(out, Event):
        return "crash", {f"returned {type(out).__name__}"}, None
    return "accepted", contract_violations(out), out


def contract_violations(ev: Event) -> set[str]:
    """Names of the contract rules an accepted event breaks (README, "The wire contract")."""
    fps = (ev.prompt_fp, ev.template_fp, ev.system_fp)
    return {name for name, ok in (
        ("id", all(_good_id(v) for v in (ev.event_id, ev.account_id))),
        ("ts", _good_time(ev.ts)),
        ("account_created", ev.account_created is None or _good_time(ev.account_created)),
        ("counts", _good_count(ev.input_tokens, 0) and _good_count(ev.output_tokens, 0)),
        ("optional_counts", all(v is None or _good_count(v, 0) for v in (
            ev.max_tokens, ev.status, ev.tools, ev.tool_calls, ev.asn))
         and (ev.turns is None or _good_count(ev.turns, 1))),
        ("latency_ms", ev.latency_ms is None or (type(ev.latency_ms) is float
                                                 and math.isfinite(ev.latency_ms))),
        ("fingerprint", all(v is None or re.fullmatch(r"[0-9a-f]{16}", v) for v in fps)),
        ("strings", all(v is None or (type(v) is str and len(v) <= MAX_STRING) for v in (
            ev.model, ev.org_id, ev.api_key_id, ev.endpoint, ev.stop_reason, ev.task,
            ev.payment_fp, ev.ip, ev.country, ev.user_agent, ev.ja4, ev.sdk))),
        ("flags", all(v is None or type(v) is bool for v in (ev.stream, ev.focus, ev.cot))),
        ("no_text", not hasattr(ev, "prompt") and not hasattr(ev, "system") and not any(
            isinstance(v, str) and MARKER in v for v in (getattr(ev, f.name) for f in fields(ev)))),
    ) if not ok}


def _good_id(value: object) -> bool:
    return (type(value) is str and 1 <= len(value) <= MAX_ID_LEN and value.isprintable()
            and not set(value) & INVISIBLE_PRINTABLE)


def _good_time(value: object) -> bool:
    return type(value) is float and math.isfinite(value) and MIN_TS <= value < MAX_TS


def _good_count(value: object, minimum: int) -> bool:
    return type(value) is int and minimum <= value < MAX_SAFE_INT


def judge(case: Case, tally: Tally) -> None:
    """Parse one case, compare with what the contract prescribes, and count it."""
    outcome, problems, ev = outcome_of(case.raw)
    if case.expect is not None and outcome not in (case.expect, "crash"):
        problems.add(f"expected {case.expect}, got {outcome}")
    if ev is not None and case.ts is not None and not math.isclose(ev.ts, case.ts, abs_tol=2e-6):
        problems.add(f"ts {ev.ts!r} != {case.ts!r}")
    tally.record(case, outcome, problems)


# -- what the contract says about one value in one field -------------------------------------


def expect_value(kind: str, required: bool, value: object) -> str:
    """The outcome for `value` (as orjson parsed it) in a field of `kind`."""
    if value is None:
        return "missing_field" if required else "accepted"
    if kind == "time":
        return expect_time(value)
    if kind in ("count", "turns"):
        if isinstance(value, bool) or not isinstance(value, int):
            return "bad_type"
        low = 1 if kind == "turns" else 0
        return "accepted" if low <= value < MAX_SAFE_INT else "bad_value"
    if kind == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return "accepted" if ok else "bad_type"
    if kind == "flag":
        return "accepted" if isinstance(value, bool) else "bad_type"
    if kind == "object":  # the probes' objects hold no client field, so any object will do
        return "accepted" if isinstance(value, dict) else "bad_type"
    if not isinstance(value, str):
        return "bad_type"
    if kind == "id":
        return expect_id(value)
    if kind == "hex16":
        return expect_hex16(value)
    if kind == "string" and len(value) > MAX_STRING:
        return "bad_value"
    return "accepted"  # text: no limit but the record's


def expect_id(value: str) -> str:
    """1..128 characters, none control, format, separator (but space), unassigned or invisible."""
    unseen = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
    if not 1 <= len(value) <= MAX_ID_LEN or set(value) & INVISIBLE_PRINTABLE or any(
            unicodedata.category(c) in unseen or (unicodedata.category(c) == "Zs" and c != " ")
            for c in value):
        return "bad_value"
    return "accepted"


def expect_hex16(value: str) -> str:
    return "accepted" if re.fullmatch(r"[0-9a-fA-F]{16}", value, re.ASCII) else "bad_value"


def expect_time(value: object) -> str:
    if isinstance(value, str):
        return expect_rfc3339(value)[0]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "bad_timestamp"
    return "accepted" if MIN_TS <= value < MAX_TS else "bad_timestamp"


_STRICT_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:[Zz]|([+-])(\d{2}):(\d{2}))", re.ASCII)


def expect_rfc3339(text: str) -> tuple[str, float | None]:
    """(outcome, epoch seconds) of an RFC 3339 date-time, computed independently.

    Strict RFC 3339 section 5.6 (ASCII digits, an offset, 'T', 't' or a space),
    at most 9 fractional digits (nanoseconds; the validator's documented limit,
    truncated to microseconds), and no leap second: `:60` is refused because
    Python's datetime cannot hold it, and the contract says nothing of leap
    seconds (UTC has had none since 2016). Offsets are at most 23:59. Then the
    contract's 2000..2100 window.
    """
    m = _STRICT_RFC3339.fullmatch(text)
    if m is None:
        return "bad_timestamp", None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    frac, sign = m.group(7) or "", m.group(8)
    off_h, off_m = int(m.group(9) or 0), int(m.group(10) or 0)
    if not (year >= 1 and 1 <= month <= 12 and hour <= 23 and minute <= 59 and second <= 59
            and 1 <= day <= _days_in_month(year, month) and off_h <= 23 and off_m <= 59):
        return "bad_timestamp", None
    offset = (-1 if sign == "-" else 1) * (off_h * 3600 + off_m * 60)
    days = date(year, month, day).toordinal() - date(1970, 1, 1).toordinal()
    micros = int((frac + "000000")[:6])
    epoch = days * 86400 + hour * 3600 + minute * 60 + second - offset + micros / 1e6
    return ("accepted", epoch) if MIN_TS <= epoch < MAX_TS else ("bad_timestamp", None)


def _days_in_month(year: int, month: int) -> int:
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]


# -- building records ------------------------------------------------------------------------

_SLOT = "\u0000slot\u0000"
_SLOT_JSON = orjson.dumps(_SLOT)


def with_literal(doc: dict[str, object], key: str, literal: bytes,
                 client_key: str | None = None) -> bytes:
    """The document's JSON with `key` (or `client.client_key`) set to a raw JSON text."""
    doc = dict(doc)
    if client_key is None:
        doc[key] = _SLOT
    else:
        client = doc.get("client")
        doc["client"] = {**(client if isinstance(client, dict) else {}), client_key: _SLOT}
    return orjson.dumps(doc).replace(_SLOT_JSON, literal, 1)


def literal_of(value: object) -> bytes:
    """JSON text of a Python value, big integers included (orjson refuses those)."""
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


def parsed(literal: bytes) -> object:
    """How orjson reads a JSON text (2**64 and up become floats), so expectations follow it."""
    return orjson.loads(literal)


def rfc3339_text(rng: random.Random) -> str:
    """A date-time biased to every edge: bad calendar days, leap seconds, odd offsets."""
    year = rng.choice([0, 1, 1969, 1970, 1999, 2000, 2024, 2025, 2026, 2099, 2100, 2101, 9999,
                       rng.randint(0, 9999), rng.randint(2000, 2099)])
    month = rng.choice([0, 1, 2, 2, 6, 12, 13, rng.randint(1, 12)])
    day = rng.choice([0, 1, 28, 29, 29, 30, 31, 32, rng.randint(1, 28)])
    hour, minute = rng.choice([0, 12, 23, 24, rng.randint(0, 23)]), rng.choice([0, 59, 60, 30])
    second = rng.choice([0, 59, 60, 61, rng.randint(0, 59)])
    frac = rng.choice(["", "", ".5", "." + _digits(rng, rng.randint(1, 9)), "." + _digits(rng, 10),
                       "."])
    sep = rng.choice("TTTt x")
    oh, om = rng.choice([0, 1, 5, 12, 14, 23, 24, 99]), rng.choice([0, 30, 45, 59, 60, 99])
    offset = rng.choice(["Z", "z", "", "+00:00", "-00:00", f"+{oh:02d}:{om:02d}",
                         f"-{oh:02d}:{om:02d}", "+0000", "+05", " UTC", "Z\n"])
    text = (f"{year:04d}-{month:02d}-{day:02d}{sep}{hour:02d}:{minute:02d}:{second:02d}"
            f"{frac}{offset}")
    if rng.random() < 0.05:  # Unicode digits match `\d` in a pattern but are not RFC 3339
        i = rng.choice([i for i, c in enumerate(text) if c.isdigit()])
        # a two in Arabic-Indic, Persian, fullwidth, NKo or Devanagari digits
        two = rng.choice("\u0662\u06f2\uff12\u07c2\u0968")
        text = text[:i] + two + text[i + 1:]
    return text


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


# -- mutations: each makes one Case from one valid seed -------------------------------------

Mutation = Callable[[random.Random, dict[str, object], bytes], Case]


def m_bit_flips(rng: random.Random, doc: dict[str, object], raw: bytes) -> Case:
    data = bytearray(raw)
    for _ in range(rng.randint(1, 8)):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    return Case(bytes(data), None, "bit_flips")


def m_truncate(rng: random.Random, doc: dict[str, object], raw: bytes) -> Case:
    """A strict prefix of compact JSON lacks its closing brace: never valid."""
    return Case(raw[: rng.randrange(len(raw))], "invalid_json", "truncate")


def m_insert_bytes(rng: random.Random, doc: dict[str, object], raw: bytes) -> Case:
    at, junk = rng.randrange(len(raw) + 1), rng.randbytes(rng.randint(1, 16))
    return Case(raw[:at] + junk + raw[at:], None, "insert_bytes")


def m_delete_slice(rng: random.Random, doc: dict[str, object], raw: bytes) -> Case:
    at = rng.randrange(len(raw))
    return Case(raw[:at] + raw[at + rng.randint(1, 32):], None, "delete_slice")


def m_bad_utf8(rng: random.Random, doc: dict[str, object], raw: bytes) -> Case:
    """Invalid UTF-8 inside a string value (just after the model's opening quote)."""
    at = raw.index(b'"model":"') + len(b'"model":"')
    bad = rng.choice(BAD_UTF8)
    return Case(raw[:at] + bad + raw[at:], "invalid_json", "bad_utf8")


def m_raw_control(rng: random.Random, doc: dict[str, object], raw: bytes) -> Case:
    """An unescaped control byte inside a string: JSON forbids it."""
    at = raw.index(b'"model":"') + len(b'"model":"')
    return Case(raw[:at] + bytes([rng.randrange(0x20)]) + raw[at:], "invalid_json", "raw_control")


def m_invalid_literal(rng: random.Random, doc: dict[str, object], raw: bytes) -> Case:
    key = rng.choice(list(KINDS))
    return Case(with_literal(doc, key, rng.choice(INVALID_LITERALS)), "invalid_json",
                "invalid_literal")


def m_wrong_type(rng: random.Random, doc: dict[str, object], raw: bytes) -> Case:
    """Every JSON type in every field, and in the client's fields."""
    literal = literal_of(rng.choice(TYPE_PROBES))
    if rng.random() < 0.2:
        key, kind = rng.choice(list(CLIENT_KINDS.items()))
        return Case(with_literal(doc, "client", literal, key),
                    expect_value(kind, False, parsed(literal)), "wrong_type")
    key = rng.choice(list(KINDS))
    return Case(with_literal(doc, key, literal),
                expect_value(KINDS[key], key in REQUIRED, parsed(literal)), "wrong_type")


def m_huge_number(rng: random.Random, doc: dict[str, object], raw: bytes) -> Case:
    """Integers past 64 bits, and past the 2**53 the contract allows, in numeric fields."""
    key = rng.choice([k for k, kind in KINDS.items()
                      if kind in ("count", "turns", "number", "time")])
    literal = rng.choice([*BIG_INT_LITERALS, literal_of(2**53), literal_of(-(2**53)), b"1e308",
                          b"-1e308", b"4.9e-324", b"1767225600000"])  # the last: milliseconds
    return Case(with_literal(doc, key, literal),
                expect_value(KINDS[key], key in REQUIRED, parsed(literal)), "huge_number")


def m_missing_or_null(rng: random.Random, doc: dict[str, object], raw: bytes) -> Case:
    key = rng.choice([k for k in KINDS if k in doc])
    expect = "missing_field" if key in REQUIRED else "accepted"
    if rng.random() < 0.5:
        return Case(orjson.dumps({k: v for k, v in doc.items() if k != key}), expect, "missing")
    return Case(orjson.dumps({**doc, key: None}), expect, "null")


def m_id_chars(rng: random.Random, doc: dict[str, object], raw: bytes) -> Case:
    """Control, format, bidi, zero-width, private-use, confusable and invisible characters."""
    key = rng.choice(ID_FIELDS)
    category = rng.choice(list(ID_CHARS))
    chars, _ = ID_CHARS[category]
    base = str(doc[key])
    at = rng.choice([0, len(base), rng.randrange(len(base) + 1)])
    value = rng.choice(chars) if rng.random() < 0.1 else base[:at] + rng.choice(chars) + base[at:]
    return Case(orjson.dumps({**doc, key: value}), expect_id(value), f"id_{category}")


def m_id_length(rng: random.Random, doc: dict[str, object], raw: bytes) -> Case:
    key = rng.choice(ID_FIELDS)
    unit = rng.choice("a9-_.:/ \u00e9\u8d26\U0001f642")  # one code point, 1 to 4 UTF-8 bytes
    value = unit * rng.choice([0, 1, 2, 127, 128, 129, 200, 4096])
    return Case(orjson.dumps({**doc, key: value}), expect_id(value), "id_length")


def m_timestamp(rng: random.Random, doc: dict[str, object], raw: bytes) -> Case:
    """RFC 3339 edge cases and out-of-range epochs, in `ts` or `account_created`."""
    key = rng.choice(["ts", "ts", "ts", "account_created"])
    if rng.random() < 0.75:
        text = rfc3339_text(rng)
        outcome, epoch = expect_rfc3339(text)
        return Case(orjson.dumps({**doc, key: text}), outcome, "rfc3339",
                    epoch if key == "ts" else None)
    value = rng.choice([MIN_TS, MIN_TS - 0.001, MAX_TS, MAX_TS - 0.001, 0, -1, 1e308, -1e308,
                        rng.uniform(-1e12, 1e12), rng.uniform(MIN_TS, MAX_TS)])
    outcome = expect_time(value)
    return Case(orjson.dumps({**doc, key: value}), outcome, "epoch",
                float(value) if key == "ts" and outcome == "accepted" else None)


def m_string_length(rng: random.Random, doc: dict[str, object], raw: bytes) -> Case:
    key = rng.choice([k for k, kind in KINDS.items() if kind == "string"])
    value = "m" * rng.choice([0, 1, MAX_STRING, MAX_STRING + 1, 5000])
    return Case(orjson.dumps({**doc, key: value}), expect_value("string", key in REQUIRED, value),
                "string_length")


def m_fingerprint(rng: random.Random, doc: dict[str, object], raw: bytes) -> Case:
    hexes = "0123456789abcdefABCDEF"
    value = rng.choice([
        "".join(rng.choice(hexes) for _ in range(rng.choice([15, 16, 16, 17]))),
        "0123456789abcdef\n", "0123456789ABCDEF\n", "\n0123456789abcdef", "0123456789abcdeg",
        "0123456789abcde\u0660",  # an Arabic-Indic zero
        " 0123456789abcdef", "0x0123456789abcd", "",
    ])
    key = rng.choice(["prompt_fp", "system_fp"])
    body = {k: v for k, v in doc.items() if k not in ("prompt", "system")}  # text would win
    return Case(orjson.dumps({**body, key: value}), expect_hex16(value), "fingerprint")


def m_deep_nesting(rng: random.Random, doc: dict[str, object], raw: bytes) -> Case:
    """orjson stops at depth 1024: deeper must be invalid_json, shallower an ordinary value."""
    depth = rng.choice([10, 500, 1000, 1100, 10_000, rng.randint(1025, 50_000)])
    opener, closer = rng.choice([(b"[", b"]"), (b'{"a":', b"}")])
    balanced = rng.random() < 0.7
    inner = opener * depth + b"1" + (closer * depth if balanced else b"")
    readable = balanced and depth <= 1000
    where = rng.choice(["top", "unknown_field", "client"])
    if where == "top":
        shallow = "not_object" if opener == b"[" else "missing_field"
        return Case(inner, shallow if readable else "invalid_json", "deep_top")
    key = "client" if where == "client" else "x_nested"
    shallow = "bad_type" if where == "client" and opener == b"[" else "accepted"
    return Case(with_literal(doc, key, inner), shallow if readable else "invalid_json",
                f"deep_{where}")


def m_too_large(rng: random.Random, doc: dict[str, object], raw: bytes) -> Case:
    """Over 1 MiB is too_large before anything is read, even when not JSON at all."""
    size = MAX_RECORD_BYTES + rng.choice([1, rng.randint(2, 1 << 16)])
    if rng.random() < 0.02:  # the largest record distillguard forwards unchanged
        size = 8 << 20
    if rng.random() < 0.3:
        return Case(b"\xff" * size, "too_large", "too_large_garbage")
    pad = size - len(orjson.dumps({**doc, "prompt": ""}))
    return Case(orjson.dumps({**doc, "prompt": "x" * pad}), "too_large", "too_large")


def m_not_object(rng: random.Random, doc: dict[str, object], raw: bytes) -> Case:
    value = rng.choice([b"null", b"true", b"0", b"-1.5", b'"text"', b"[]", b"[{}]",
                        b"[" + raw + b"]", orjson.dumps(list(doc.items()))])
    return Case(value, "not_object", "not_object")


def m_envelope(rng: random.Random, doc: dict[str, object], raw: bytes) -> Case:
    """What surrounds the document: a BOM, garbage after it, whitespace, emptiness, tombstones."""
    choice = rng.randrange(6)
    if choice == 0:
        return Case(b"\xef\xbb\xbf" + raw, "invalid_json", "envelope_bom")
    if choice == 1:
        return Case(raw + rng.choice([b"x", b"{}", b",", b"\x00", raw]), "invalid_json",
                    "envelope_trailing")
    if choice == 2:
        return Case(b" \n\t" + raw + b"\r\n ", "accepted", "envelope_whitespace")
    if choice == 3:
        return Case(rng.choice([b"", b" ", b"\n"]), "invalid_json", "envelope_empty")
    if choice == 4:
        return Case(None, "invalid_json", "tombstone")
    return Case(orjson.dumps({**doc, "x_unknown": {"nested": [1, "two", None]}}), "accepted",
                "unknown_field")


def m_duplicate_key(rng: random.Random, doc: dict[str, object], raw: bytes) -> Case:
    """A repeated key: JSON leaves it open, orjson keeps the last; either way no crash."""
    key = rng.choice(list(doc))
    extra = orjson.dumps({key: rng.choice(["\u0000", -1, None, "ok"])})[1:-1]
    return Case(raw[:-1] + b"," + extra + b"}", None, "duplicate_key")


MUTATIONS: tuple[tuple[Mutation, int], ...] = (
    (m_bit_flips, 10), (m_truncate, 4), (m_insert_bytes, 6), (m_delete_slice, 5),
    (m_bad_utf8, 4), (m_raw_control, 2), (m_invalid_literal, 6), (m_wrong_type, 14),
    (m_huge_number, 5), (m_missing_or_null, 6), (m_id_chars, 12), (m_id_length, 3),
    (m_timestamp, 12), (m_string_length, 2), (m_fingerprint, 3), (m_deep_nesting, 1),
    (m_too_large, 1), (m_not_object, 2), (m_envelope, 3), (m_duplicate_key, 2),
)


def fuzz_cases(rng: random.Random, total: int) -> Iterator[Case]:
    """`total` mutated records: a weighted choice of mutation applied to a random seed."""
    raws = [orjson.dumps(seed) for seed in SEEDS]
    funcs = [m for m, _ in MUTATIONS]
    weights = [w for _, w in MUTATIONS]
    for _ in range(total):
        i = rng.randrange(len(SEEDS))
        yield rng.choices(funcs, weights)[0](rng, SEEDS[i], raws[i])


# -- the fuzz run --------------------------------------------------------------------------


def test_seeds_are_valid_events() -> None:
    """The fuzz mutates valid events; were a seed invalid, its expectations would be wrong."""
    for seed in SEEDS:
        outcome, problems, _ = outcome_of(orjson.dumps(seed))
        assert (outcome, problems) == ("accepted", set()), seed


def test_mutation_fuzz_reconciles_and_never_crashes() -> None:
    began = time.perf_counter()
    tally = Tally()
    for case in fuzz_cases(random.Random(FUZZ_SEED), FUZZ_TOTAL):
        judge(case, tally)
    summary = {**tally.summary(), "seconds": round(time.perf_counter() - began, 2)}
    FUZZ_RESULTS.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nfuzz: tried {summary['tried']}, accepted {summary['accepted']}, dead-lettered "
          f"{summary['rejected']} {summary['rejected_by_reason']}, "
          f"{summary['seconds']}s -> {FUZZ_RESULTS}")
    counts = {k: summary[k] for k in ("tried", "accepted", "rejected", "rejected_by_reason",
                                      "crashed")}
    assert tally.outcomes["crash"] == 0, tally.examples
    assert tally.tried == FUZZ_TOTAL
    rejected = sum(tally.rejected_by_reason.values())
    assert tally.outcomes["accepted"] + rejected == FUZZ_TOTAL, counts
    assert tally.disagreements == 0, (
        f"{tally.disagreements} disagreements with the contract, e.g.\n"
        + "\n".join(tally.examples))
    assert set(tally.rejected_by_reason) == set(REASONS), counts  # every reason exercised


# -- hypothesis properties -----------------------------------------------------------------

PROPERTY = settings(max_examples=300, deadline=None, database=None)

json_scalars = (st.none() | st.booleans() | st.integers()
                | st.sampled_from([2**70, -(2**70), 10**400])
                | st.floats(allow_nan=True, allow_infinity=True) | st.text()
                | st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1,
                          max_size=2))  # lone surrogates: escaped, or as invalid UTF-8
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children,
                                                                        max_size=4),
    max_leaves=12,
)


def _encode(value: object, ascii_only: bool) -> bytes:
    """stdlib JSON: writes NaN/Infinity literals and big integers, as a buggy gateway might."""
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def assert_keeps_contract(raw: bytes | None) -> None:
    outcome, problems, _ = outcome_of(raw)
    assert not problems, (outcome, problems, _show(raw))


@PROPERTY
@given(st.binary(max_size=4096))
def test_arbitrary_bytes(raw: bytes) -> None:
    assert_keeps_contract(raw)


@PROPERTY
@given(json_values, st.booleans())
def test_arbitrary_json_values(value: object, ascii_only: bool) -> None:
    assert_keeps_contract(_encode(value, ascii_only))


@PROPERTY
@given(st.sampled_from(SEEDS), st.dictionaries(st.sampled_from(list(KINDS)) | st.text(max_size=8),
                                               json_values, max_size=4),
       st.sets(st.sampled_from(list(KINDS)), max_size=3), st.booleans())
def test_event_shaped_documents(seed: dict[str, object], override: dict[str, object],
                                drop: set[str], ascii_only: bool) -> None:
    doc = {k: v for k, v in {**seed, **override}.items() if k not in drop}
    assert_keeps_contract(_encode(doc, ascii_only))


printable_ids = st.text(st.characters(exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl",
                                                            "Zp", "Zs")),
                        min_size=1, max_size=MAX_ID_LEN).filter(
    lambda s: not set(s) & INVISIBLE_PRINTABLE)
offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))
aware = st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2099, 12, 30),
                     timezones=offsets)


@PROPERTY
@given(printable_ids, printable_ids, st.floats(MIN_TS, MAX_TS, exclude_max=True),
       st.integers(0, MAX_SAFE_INT - 1), st.integers(0, MAX_SAFE_INT - 1))
def test_valid_events_are_accepted_unchanged(event_id: str, account_id: str, ts: float,
                                             tokens_in: int, tokens_out: int) -> None:
    """The other direction: the validator must not refuse what the contract allows."""
    doc = {"event_id": event_id, "ts": ts, "account_id": account_id, "model": "m",
           "input_tokens": tokens_in, "output_tokens": tokens_out}
    ev = parse_event(orjson.dumps(doc))
    assert isinstance(ev, Event), ev
    assert (ev.event_id, ev.account_id, ev.ts, ev.input_tokens, ev.output_tokens) == (
        event_id, account_id, ts, tokens_in, tokens_out)


@PROPERTY
@given(aware, st.sampled_from(["T", "t", " "]), st.booleans())
def test_rfc3339_written_by_other_software(moment: datetime, sep: str, zulu: bool) -> None:
    """Date-times as `datetime.isoformat` writes them (any offset, micro or no fraction)."""
    text = moment.isoformat(sep=sep)
    if zulu and moment.utcoffset() == timedelta(0):
        text = text[:-6] + "Z"
    ev = parse_event(orjson.dumps({**SEEDS[0], "ts": text}))
    assert isinstance(ev, Event), (text, ev)
    assert ev.ts == pytest.approx(moment.timestamp(), abs=1e-6)
    assert expect_rfc3339(text)[1] == pytest.approx(moment.timestamp(), abs=1e-6)  # the oracle too


# -- tables that read as the contract ------------------------------------------------------

RFC3339_TABLE = [
    ("2026-01-01T00:00:00Z", 1_767_225_600.0),
    ("2026-01-01t00:00:00z", 1_767_225_600.0),  # lowercase t and z: RFC 3339 allows them
    ("2026-01-01 00:00:00Z", 1_767_225_600.0),  # a space: RFC 3339 section 5.6 note
    ("2026-01-01T00:00:00.123456789Z", 1_767_225_600.123456),  # ns, truncated to microseconds
    ("2026-01-01T00:00:00.1234567890Z", None),  # 10 digits: beyond the validator's 9
    ("2026-01-01T05:30:00+05:30", 1_767_225_600.0),
    ("2025-12-31T00:01:00-23:59", 1_767_225_600.0),
    ("2026-01-01T00:00:00-00:00", 1_767_225_600.0),  # "offset unknown": read as UTC
    ("2026-01-01T00:00:00+24:00", None),
    ("2026-01-01T00:00:00+2400", None),
    ("2026-01-01T00:00:00", None),  # no offset: local time of an unknown place
    ("2026-01-01", None),
    ("2016-12-31T23:59:60Z", None),  # a real leap second, refused: see expect_rfc3339
    ("2026-01-01T24:00:00Z", None),
    ("2025-02-29T00:00:00Z", None),  # not a leap year
    ("2024-02-29T00:00:00Z", 1_709_164_800.0),
    ("2000-02-29T00:00:00Z", 951_782_400.0),  # divisible by 400: a leap year
    ("2100-02-29T00:00:00Z", None),  # divisible by 100: not one (and out of the window)
    ("0000-01-01T00:00:00Z", None),
    ("9999-12-31T23:59:59Z", None),  # valid RFC 3339, outside 2000..2100
    ("1999-12-31T23:59:59Z", None),
    ("2000-01-01T00:00:00Z", MIN_TS),
    ("2099-12-31T23:59:59.999999Z", MAX_TS - 1e-6),
    ("2100-01-01T00:00:00Z", None),
    ("\uff12\uff10\uff12\uff16-01-01T00:00:00Z", None),  # fullwidth digits
    ("2026-01-01T00:00:00Z\n", None),
    ("2026-01-01T00:00:00,5Z", None),
]


@pytest.mark.parametrize("text, epoch", RFC3339_TABLE)
def test_rfc3339_edges(text: str, epoch: float | None) -> None:
    assert expect_rfc3339(text) == ("accepted" if epoch is not None else "bad_timestamp",
                                        pytest.approx(epoch, abs=2e-6) if epoch else None)
    out = parse_event(orjson.dumps({**SEEDS[0], "ts": text}))
    if epoch is None:
        assert isinstance(out, Rejection) and out.reason == "bad_timestamp", out
    else:
        assert isinstance(out, Event) and out.ts == pytest.approx(epoch, abs=2e-6), out


@pytest.mark.parametrize("category", list(ID_CHARS))
def test_id_characters(category: str) -> None:
    """Every character of each category, alone and inside an id, in both id fields."""
    chars, expected = ID_CHARS[category]
    wrong = []
    for c in chars:
        for key in ("event_id", "account_id"):
            for value in (c, f"acct{c}1", f"{c}acct-1"):
                out = parse_event(orjson.dumps({**SEEDS[0], key: value}))
                got = "accepted" if isinstance(out, Event) else out.reason
                if got != expected:
                    wrong.append((key, value, got))
    assert not wrong, wrong


# -- regression tests: the reproducers of validator bugs this file found, now fixed ----------

FIXED_BUGS = [
    pytest.param({"prompt_fp": "0123456789abcdef\n"}, "bad_value", id="fingerprint"),
    pytest.param({"system_fp": "0123456789ABCDEF\n"}, "bad_value", id="fingerprint-system"),
    *(pytest.param({"account_id": f"acct-1{c}"}, "bad_value", id=f"id_invisible-U+{ord(c):04X}")
      for c in "\u034f\u115f\u3164\ufe0f\U000e0100"),
    pytest.param({"ts": "2026-01-01T00:00:00+05:60"}, "bad_timestamp", id="rfc3339_offset"),
]


@pytest.mark.parametrize("override, reason", FIXED_BUGS)
def test_fixed_validator_bug(override: dict[str, object], reason: str) -> None:
    out = parse_event(orjson.dumps({**SEEDS[0], **override}))
    assert isinstance(out, Rejection) and out.reason == reason, out
