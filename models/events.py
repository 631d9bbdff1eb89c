"""Parsing and validation of request events against the wire contract.

`parse_event` turns the raw bytes of one Kafka record into an `Event`, or a
`Rejection` whose `reason` is one of the stable dead-letter codes. The prompt
and system text are reduced to fingerprints and flags here and never leave
this function: an `Event` holds no text, so nothing downstream (tables,
changelogs, alerts, logs) can leak it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from distillguard.models import text_signals
from distillguard.models.compiled import NATIVE, twin
from distillguard.models.text_signals import FOCUS_TASKS, signals

if TYPE_CHECKING:
    from distillguard.models._native import FastParser
    from distillguard.models.content import ContentSampler

#: event-time units (event times are epoch seconds)
HOUR = 3600.0
DAY = 86400.0
#: records larger than this are dead-lettered unread (contract: 1 MiB)
MAX_RECORD_BYTES = 1 << 20
#: event times outside [2000-01-01, 2100-01-01) are not plausible request times
MIN_TS = 946_684_800.0
MAX_TS = 4_102_444_800.0
MAX_ID_LEN = 128
#: longest string field, but for ids (MAX_ID_LEN) and the prompt/system text (no limit)
MAX_STRING_LEN = 1024
#: counts are below 2**53, the integers a double holds exactly
MAX_COUNT = 1 << 53

_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-](?:[01]\d|2[0-3]):[0-5]\d)"
)
_HEX16 = re.compile(r"[0-9a-fA-F]{16}")
#: invisible (Default_Ignorable) code points that str.isprintable() lets through: an id
#: holding one looks identical to another account's id
_INVISIBLE = re.compile(
    "[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180d\u180f\u3164\ufe00-\ufe0f\uffa0"
    "\U000e0100-\U000e01ef]"
)
#: stable dead-letter reason codes (the `x-dlq-reason` header)
REASONS = (
    "too_large",
    "invalid_json",
    "not_object",
    "missing_field",
    "bad_type",
    "bad_value",
    "bad_timestamp",
)


@dataclass(slots=True, frozen=True)
class Rejection:
    """Why a record was refused: a stable code and a human-readable message."""

    reason: str
    error: str


class _Reject(Exception):
    def __init__(self, reason: str, error: str) -> None:
        super().__init__(error)
        self.rejection = Rejection(reason, error)


@dataclass(slots=True)
class Event:
    """One validated request event, text already reduced to fingerprints.

    Optional contract fields are `None` when absent (unknown, never zero).
    `template_fp` groups prompts of one template, `prompt_fp` identifies an
    exact prompt, `header_fp` the fixed opening a pipeline puts before what it
    samples (`prompt_header`), `focus` says the request is
    coding or agentic work (from the gateway's `task` label, or a keyword test
    on the text), `cot` that the prompt elicits chain-of-thought.
    """

    event_id: str
    ts: float
    account_id: str
    model: str
    input_tokens: int
    output_tokens: int
    org_id: str | None = None
    api_key_id: str | None = None
    endpoint: str | None = None
    max_tokens: int | None = None
    stop_reason: str | None = None
    status: int | None = None
    latency_ms: float | None = None
    stream: bool | None = None
    turns: int | None = None
    tools: int | None = None
    tool_calls: int | None = None
    task: str | None = None
    prompt_fp: str | None = None
    template_fp: str | None = None
    system_fp: str | None = None
    focus: bool | None = None
    cot: bool | None = None
    ip: str | None = None
    asn: int | None = None
    country: str | None = None
    user_agent: str | None = None
    ja4: str | None = None
    sdk: str | None = None
    payment_fp: str | None = None
    account_created: float | None = None
    #: where the worker read it: [input partition, offset] (set by the worker, never by a client)
    src: list[int] | None = None
    header_fp: str | None = None  # the opening of a long prompt (`HEADER_CHARS`)
    #: the mean content features of the account's latest sampled prompts, on the event that
    #: completed them (`distillguard.models.content.ContentSampler`); never one prompt's
    content: str | None = None

    def to_wire(self) -> bytes:
        """Compact JSON of the non-empty fields, for the internal re-keyed topic."""
        return orjson.dumps({k: v for k in _FIELD_NAMES if (v := getattr(self, k)) is not None})

    @classmethod
    def from_wire(cls, data: bytes) -> Event:
        """Inverse of `to_wire` (trusted input: written by `to_wire` only).

        >>> ev = Event("e1", 1700000000.0, "acct-1", "m", 12, 900)
        >>> ev.to_wire()
        b'{"event_id":"e1","ts":1700000000.0,"account_id":"acct-1","model":"m",...}'
        >>> Event.from_wire(ev.to_wire()) == ev
        True
        """
        return cls(**orjson.loads(data))


_FIELD_NAMES = tuple(f.name for f in fields(Event))


def _fast_parser() -> FastParser | None:
    """The compiled twin of `_build_fast` and `_text_signals` in one call on the raw bytes.

    It accepts only records `_build_fast` accepts, with ASCII ids and text, and gives the
    same fields; for anything else it returns None and the Python path decides.
    """
    if NATIVE is None or text_signals.TWIN is None:
        return None
    parser: FastParser = NATIVE.FastParser(text_signals.TWIN, MAX_ID_LEN, MAX_STRING_LEN,
                                           MAX_COUNT, MIN_TS, MAX_TS, sorted(FOCUS_TASKS))
    return parser


#: the compiled twin of `_build_fast` and `_text_signals` (None: Python only)
_FAST = twin(__name__, "_FAST", _fast_parser())


def parse_event(raw: bytes | None, sampler: ContentSampler | None = None) -> Event | Rejection:
    """Validate one raw record; never raises. A `sampler` takes the prompt's content.

    The text is reduced to fingerprints and flags, and is not kept:

    >>> ev = parse_event(b'{"event_id": "e1", "ts": 1700000000, "account_id": "acct-1", '
    ...                  b'"model": "m", "input_tokens": 12, "output_tokens": 900, '
    ...                  b'"prompt": "Think step by step: what is 2+2?"}')
    >>> ev.account_id, ev.ts, ev.cot, ev.focus, ev.prompt_fp
    ('acct-1', 1700000000.0, True, False, '8692296255cac679')

    A bad record gives the dead-letter reason code:

    >>> parse_event(b'{not json').reason
    'invalid_json'
    >>> parse_event(b'{"event_id": "e1"}')
    Rejection(reason='missing_field', error="required field 'ts' is missing or null")
    """
    if raw is None:
        return Rejection("invalid_json", "record has no value (tombstone)")
    if len(raw) > MAX_RECORD_BYTES:
        return Rejection("too_large", f"record is {len(raw)} bytes, limit {MAX_RECORD_BYTES}")
    fast = None if _FAST is None else _FAST.fields(raw)
    if fast is not None:  # the compiled twin vouches for the record (see `_fast_parser`)
        fields, prompt = fast
        ev = Event(*fields)
    else:
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return Rejection("invalid_json", f"not valid JSON: {exc}")
        if not isinstance(doc, dict):
            return Rejection("not_object",
                             f"event must be a JSON object, got {type(doc).__name__}")
        try:
            ev = _build(doc)
        except _Reject as exc:
            return exc.rejection
        prompt = doc.get("prompt")
    if sampler is not None and prompt:
        ev.content = sampler.chunk(ev.account_id, ev.event_id, prompt)
    return ev


def _build(doc: dict[str, Any]) -> Event:
    """The `Event` of `doc`: the fast path if it vouches for the document, else the checked one."""
    ev = _build_fast(doc)
    if ev is None:
        ev = _build_checked(doc)
    _text_signals(ev, doc.get("prompt"), doc.get("system"))
    return ev


#: the top-level fields `_build_fast` reads, in the order it unpacks them
_FAST_KEYS = (
    "event_id", "ts", "account_id", "model", "input_tokens", "output_tokens", "org_id",
    "api_key_id", "endpoint", "max_tokens", "stop_reason", "status", "latency_ms", "stream",
    "turns", "tools", "tool_calls", "task", "prompt_fp", "system_fp", "payment_fp",
    "account_created", "client", "prompt", "system",
)
_CLIENT_KEYS = ("ip", "asn", "country", "user_agent", "ja4", "sdk")


def _build_fast(doc: dict[str, Any]) -> Event | None:
    """The `Event` of a plainly valid document, or None if anything is unusual.

    Why this exists: one checker call per field (`_string`, `_count`, ...) cost
    nearly as much per event as decoding the JSON. Here the fields are read in one pass,
    checked with exact type tests grouped by kind, and the `Event` is built once.
    It accepts only documents `_build_checked` accepts, with the same values; for
    anything else (any error, but also a legal rarity such as an RFC 3339 `ts`
    or a non-ASCII id) it returns None and the checked path decides, so every
    rejection keeps its reason, message and precedence.
    """
    values: Iterator[Any] = map(doc.get, _FAST_KEYS)  # one C-level pass over the keys
    (
        event_id, ts, account_id, model, input_tokens, output_tokens, org_id, api_key_id,
        endpoint, max_tokens, stop_reason, status, latency_ms, stream, turns, tools, tool_calls,
        task, prompt_fp, system_fp, payment_fp, account_created, client, prompt, system,
    ) = values
    if client is None:
        ip = asn = country = user_agent = ja4 = sdk = None
    elif type(client) is dict:
        ip, asn, country, user_agent, ja4, sdk = map(client.get, _CLIENT_KEYS)
    else:
        return None
    if None in (event_id, ts, account_id, model, input_tokens, output_tokens):
        return None  # a required field is missing
    for ident in (event_id, account_id):
        if type(ident) is not str or not (
            0 < len(ident) <= MAX_ID_LEN and ident.isascii() and ident.isprintable()
        ):
            return None
    for text in (model, org_id, api_key_id, endpoint, stop_reason, task, payment_fp,
                 ip, country, user_agent, ja4, sdk):
        if text is not None and (type(text) is not str or len(text) > MAX_STRING_LEN):
            return None
    for count in (input_tokens, output_tokens, max_tokens, status, tools, tool_calls, asn):
        if count is not None and (type(count) is not int or not 0 <= count < MAX_COUNT):
            return None
    if turns is not None and (type(turns) is not int or not 1 <= turns < MAX_COUNT):
        return None
    if stream is not None and type(stream) is not bool:
        return None
    for fp in (prompt_fp, system_fp):
        if fp is not None and (type(fp) is not str or not _HEX16.fullmatch(fp)):
            return None
    for text in (prompt, system):
        if text is not None and type(text) is not str:
            return None
    if type(ts) is int:
        ts = float(ts)
    if type(account_created) is int:
        account_created = float(account_created)
    for when in (ts, account_created):
        if when is not None and (type(when) is not float or not MIN_TS <= when < MAX_TS):
            return None
    if type(latency_ms) is int:
        latency_ms = float(latency_ms)
    if latency_ms is not None and (type(latency_ms) is not float or not math.isfinite(latency_ms)):
        return None
    # positional, in `Event` field order (keywords cost more, on every event); template_fp,
    # focus and cot are left to `_text_signals`
    return Event(
        event_id, ts, account_id, model, input_tokens, output_tokens, org_id, api_key_id,
        endpoint, max_tokens, stop_reason, status, latency_ms, stream, turns, tools, tool_calls,
        task, None if prompt_fp is None else prompt_fp.lower(), None,
        None if system_fp is None else system_fp.lower(), None, None,
        ip, asn, country, user_agent, ja4, sdk, payment_fp, account_created,
    )


def _build_checked(doc: dict[str, Any]) -> Event:
    """Check every field in contract order; the first bad one raises its `_Reject`.

    `prompt` and `system` are checked last, as strings of any length; the
    caller derives the text signals from them.
    """
    ev = Event(
        event_id=_ident(doc, "event_id", required=True),  # type: ignore[arg-type]
        ts=_time(doc, "ts", required=True),  # type: ignore[arg-type]
        account_id=_ident(doc, "account_id", required=True),  # type: ignore[arg-type]
        model=_string(doc, "model", required=True),  # type: ignore[arg-type]
        input_tokens=_count(doc, "input_tokens", required=True),  # type: ignore[arg-type]
        output_tokens=_count(doc, "output_tokens", required=True),  # type: ignore[arg-type]
        org_id=_string(doc, "org_id"),
        api_key_id=_string(doc, "api_key_id"),
        endpoint=_string(doc, "endpoint"),
        max_tokens=_count(doc, "max_tokens"),
        stop_reason=_string(doc, "stop_reason"),
        status=_count(doc, "status"),
        latency_ms=_number(doc, "latency_ms"),
        stream=_flag(doc, "stream"),
        turns=_count(doc, "turns", minimum=1),
        tools=_count(doc, "tools"),
        tool_calls=_count(doc, "tool_calls"),
        task=_string(doc, "task"),
        prompt_fp=_hex16(doc, "prompt_fp"),
        system_fp=_hex16(doc, "system_fp"),
        payment_fp=_string(doc, "payment_fp"),
        account_created=_time(doc, "account_created"),
    )
    _client(doc, ev)
    _string(doc, "prompt", limit=None)
    _string(doc, "system", limit=None)
    return ev


def _text_signals(ev: Event, prompt: str | None, system: str | None) -> None:
    """Derive fingerprints and task flags from `prompt`/`system`; the text goes no further."""
    prompt_fp, header_fp, template_fp, cot, coding, system_fp = signals(
        prompt, system, ev.task is None)
    if prompt is not None:
        ev.prompt_fp, ev.header_fp, ev.template_fp, ev.cot = prompt_fp, header_fp, template_fp, cot
    elif ev.prompt_fp is not None:
        ev.template_fp = ev.prompt_fp  # a fingerprint-only gateway: exact repeats only
    if system is not None:
        ev.system_fp = system_fp
    if ev.task is not None:
        ev.focus = ev.task in FOCUS_TASKS
    elif prompt is not None:
        ev.focus = bool(coding) or bool(ev.tools)


def _client(doc: dict[str, Any], ev: Event) -> None:
    client = doc.get("client")
    if client is None:
        return
    if not isinstance(client, dict):
        raise _Reject("bad_type", "client must be an object")
    ev.ip = _string(client, "ip", name="client.ip")
    ev.asn = _count(client, "asn", name="client.asn")
    ev.country = _string(client, "country", name="client.country")
    ev.user_agent = _string(client, "user_agent", name="client.user_agent")
    ev.ja4 = _string(client, "ja4", name="client.ja4")
    ev.sdk = _string(client, "sdk", name="client.sdk")


def _present(doc: dict[str, Any], key: str, required: bool, name: str) -> Any:
    value = doc.get(key)
    if value is None and required:
        raise _Reject("missing_field", f"required field {name!r} is missing or null")
    return value


def _string(
    doc: dict[str, Any],
    key: str,
    *,
    required: bool = False,
    name: str | None = None,
    limit: int | None = MAX_STRING_LEN,
) -> str | None:
    name = name or key
    value = _present(doc, key, required, name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Reject("bad_type", f"{name} must be a string, got {type(value).__name__}")
    if limit is not None and len(value) > limit:
        raise _Reject("bad_value", f"{name} is longer than {limit} characters")
    return value


def _ident(doc: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    """An id: 1..128 printable characters (control characters would poison keys and logs)."""
    value = _string(doc, key, required=required, limit=None)
    if value is None:
        return None
    if not 1 <= len(value) <= MAX_ID_LEN:
        raise _Reject("bad_value", f"{key} must be 1..{MAX_ID_LEN} characters, got {len(value)}")
    if not value.isprintable() or _INVISIBLE.search(value):
        raise _Reject("bad_value", f"{key} contains control, invisible or unprintable characters")
    return value


def _count(
    doc: dict[str, Any], key: str, *, required: bool = False, minimum: int = 0,
    name: str | None = None,
) -> int | None:
    name = name or key
    value = _present(doc, key, required, name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Reject("bad_type", f"{name} must be an integer, got {type(value).__name__}")
    if not minimum <= value < MAX_COUNT:
        raise _Reject("bad_value", f"{name} must be an integer >= {minimum}, got {value}")
    return value


def _number(doc: dict[str, Any], key: str) -> float | None:
    value = doc.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Reject("bad_type", f"{key} must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise _Reject("bad_value", f"{key} must be finite")
    return float(value)


def _flag(doc: dict[str, Any], key: str) -> bool | None:
    value = doc.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise _Reject("bad_type", f"{key} must be a boolean, got {type(value).__name__}")


def _hex16(doc: dict[str, Any], key: str) -> str | None:
    value = _string(doc, key)
    if value is not None and not _HEX16.fullmatch(value):
        raise _Reject("bad_value", f"{key} must be 16 hex characters")
    return value.lower() if value is not None else None


def _time(doc: dict[str, Any], key: str, *, required: bool = False) -> float | None:
    value = _present(doc, key, required, key)
    if value is None:
        return None
    if isinstance(value, bool):
        raise _Reject("bad_timestamp", f"{key} must be epoch seconds or RFC 3339, got a boolean")
    if isinstance(value, int | float):
        ts = float(value)
    elif isinstance(value, str):
        ts = parse_rfc3339(value, key)
    else:
        raise _Reject("bad_timestamp", f"{key} must be epoch seconds or RFC 3339")
    if not (math.isfinite(ts) and MIN_TS <= ts < MAX_TS):
        raise _Reject("bad_timestamp", f"{key}={value!r} is not a plausible time (2000..2100)")
    return ts


def parse_rfc3339(text: str, key: str = "ts") -> float:
    """Epoch seconds of an RFC 3339 date-time (offset required, as the RFC says).

    >>> parse_rfc3339("2023-11-14T22:13:20Z"), parse_rfc3339("2023-11-14T23:13:20.5+01:00")
    (1700000000.0, 1700000000.5)
    """
    if len(text) > 40 or not _RFC3339.fullmatch(text):
        raise _Reject("bad_timestamp", f"{key}={text[:40]!r} is not an RFC 3339 date-time")
    norm = text.upper().replace(" ", "T").replace("Z", "+00:00")
    head, dot, rest = norm.partition(".")
    if dot:  # datetime takes at most 6 fractional digits
        digits = rest[: len(rest) - 6]
        norm = f"{head}.{(digits + '000000')[:6]}{rest[-6:]}"
    try:
        return datetime.fromisoformat(norm).timestamp()
    except ValueError as exc:
        raise _Reject("bad_timestamp", f"{key}={text!r}: {exc}") from None
