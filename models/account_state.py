"""Per-account online statistics: the small record kept in the accounts table.

Every event updates an `AccountState` in O(1) with exponentially weighted
statistics in event time, so a replayed 45-day log gives the same state as
living through it. The record is a dataclass of numbers and short lists that
orjson encodes directly: it is what the Faust table and its changelog hold.

Why these statistics: an extraction account looks like a machine harvesting
capability (templated single-turn prompts, coding/agentic focus, requests for
the reasoning trace, long outputs cut at `max_tokens`, around the clock, at an
even pace); organic accounts look like people or like their own products
(daily rhythm, conversations, tool use, varied prompts, short outputs for
batch jobs).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from distillguard.models import cooccurrence
from distillguard.models.compiled import NATIVE, twin
from distillguard.models.content import fold_chunk
from distillguard.models.cooccurrence import bucket_update, new_signature
from distillguard.models.events import DAY, HOUR, Event

if TYPE_CHECKING:
    from distillguard.models._native import AccountFold

#: weight of the newest observation in the exponentially weighted shares
ALPHA = 0.05
#: decay time of the hour-of-day histogram: coverage reflects the last few days
HOURS_TAU = 3 * DAY
#: fingerprints tracked per account (Misra-Gries summary size)
TOP_TEMPLATES = 6
#: long-prompt headers tracked per account (a pipeline uses one or two)
TOP_HEADERS = 2
#: event ids remembered per account to drop a gateway's retries (same id, new record); Kafka's
#: own redeliveries are dropped by input position instead (see `seen_before`)
RECENT_IDS = 16
#: feedback digests remembered per account, so a replayed record is applied once
RECENT_FEEDBACK = 8
#: event time between decays of the hour-of-day histogram (its time constant is days)
HOURS_STEP = 600.0
#: share of prompts eliciting chain of thought in organic traffic, and the share the CoT
#: evidence tests against: a harvester that asks on every other request. The CUSUM of their
#: log-likelihood ratio grows by COT_UP on each such prompt and falls by COT_DOWN on any
#: other, so it climbs only while the share stays above about a sixth
COT_ORGANIC, COT_HARVEST = 0.02, 0.5
COT_UP = math.log(COT_HARVEST / COT_ORGANIC)
COT_DOWN = math.log((1.0 - COT_ORGANIC) / (1.0 - COT_HARVEST))


# The shares and means below are exponentially weighted means that are the plain mean while
# n < 1/ALPHA (no start-up bias): with n the observations so far, including x,
#     a = max(ALPHA, 1.0 / n);  mean = mean + a * (x - mean)
# written out where they are updated, as that runs ten times for every event.


@dataclass
class AccountState:
    """Online statistics of one account. Short names keep the changelog small.

    Not slotted on purpose: the fields live in the instance `__dict__` in field
    order, exactly as the stored record holds them, so converting between the
    two is one dict copy (an `__init__` with an argument per field, and a `getattr` per
    field to build the dict, cost more than updating the statistics).
    """

    n: int = 0                 # events counted (after de-duplication)
    first: float = 0.0         # event time of the first event
    last: float = 0.0          # latest event time seen
    r_hour: float = 0.0        # decayed event count, time constant 1 hour
    r_day: float = 0.0         # decayed event count, time constant 1 day
    gap_mean: float = 0.0      # EW mean of log1p(inter-arrival seconds)
    gap_var: float = 0.0       # EW variance of the same: low means machine-regular
    gaps: int = 0              # inter-arrival gaps observed
    hours: list[float] = field(default_factory=lambda: [0.0] * 24)  # decayed hour-of-day counts
    hours_ts: float = 0.0      # event time the hour histogram was last decayed to
    tpl: list[list[Any]] = field(default_factory=list)  # [[template_fp, count], ...] Misra-Gries
    hdr: list[list[Any]] = field(default_factory=list)  # [[header_fp, count], ...] likewise
    tpl_reuse: float = 0.0     # EW share of prompts whose template this account used before
    sys_fp: str = ""           # most recent system-prompt fingerprint
    sys_reuse: float = 0.0     # EW share of requests repeating that system prompt
    text_n: int = 0            # events that carried prompt text or fingerprints
    focus: float = 0.0         # EW share of coding/agentic requests
    focus_n: int = 0
    cot: float = 0.0           # EW share of prompts eliciting chain of thought
    cot_n: int = 0
    cot_ev: float = 0.0        # CUSUM of the CoT log-likelihood ratio (COT_HARVEST vs organic)
    tools: float = 0.0         # EW mean of tool definitions offered
    tool_calls: float = 0.0    # EW mean of tool calls in responses
    tools_n: int = 0
    turns: float = 0.0         # EW mean of log(turns)
    turns_n: int = 0
    out_in: float = 0.0        # EW mean of log((output+1)/(input+1))
    out_tok: float = 0.0       # EW mean of log1p(output tokens)
    max_stop: float = 0.0      # EW share of responses stopped by max_tokens
    stop_n: int = 0
    ids: list[int] = field(default_factory=list)  # recent event-id hashes, newest last
    offs: dict[str, int] = field(default_factory=dict)  # input partition -> highest offset applied
    # scoring bookkeeping
    tick_n: int = 0            # n at the last score tick
    tick_ts: float = 0.0       # event time of the last score tick
    score: float = 0.0         # last score
    sev: int = -1              # severity alerted in the current episode (-1: none)
    episode: float = 0.0       # event time the current alert episode began
    allow: bool = False        # allow-listed by an analyst: never alerts, never a suspect
    label: str = ""            # the latest analyst label, if any
    allow_src: str = ""        # `source` of the feedback that last allow-listed the account
    allow_ts: float | None = None  # its `ts` (None: never allow-listed); kept if revoked
    fb_ids: list[int] = field(default_factory=list)  # recent feedback digests, newest last
    tsig: list[int] = field(default_factory=new_signature)  # MinHash of active time buckets
    tsig_sent: list[int] = field(default_factory=list)  # 16-bit digests of the bands last sent
    emb: str = ""              # content mean of recent chunks (`content.pack`; "" for none)
    emb_n: int = 0             # content chunks folded

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AccountState:
        """The state of a stored record, which is left as it is.

        A record as `as_dict` writes it (every field, in field order) is copied
        straight into the instance; any other (say, one written before a field
        was added) goes through `__init__`, which fills in defaults and rejects
        unknown names.
        """
        if tuple(d) != _STATE_FIELDS:
            return cls(**d)
        state = cls.__new__(cls)
        state.__dict__ = d.copy()
        return state

    def as_dict(self) -> dict[str, Any]:
        """The record to store. Shallow on purpose (dataclasses.asdict deep-copies, far slower):
        the lists are handed over with the record, which replaces the stored one."""
        return self.__dict__.copy()


_STATE_FIELDS = tuple(f.name for f in fields(AccountState))


def event_id_hash(event_id: str) -> int:
    """32-bit hash of an event id: enough to tell apart the last few dozen ids of one account."""
    return zlib.crc32(event_id.encode("utf-8", "surrogatepass"))


def seen_before(state: AccountState, ev: Event) -> bool:
    """Whether this event was applied to the account already.

    Two kinds of repeat. The gateway may send one request twice (same
    `event_id`, a new record): caught by the recent-id window. Kafka may
    deliver one record twice after a crash (the worker re-reads input offsets
    it had not committed, and re-reads the events topic past the point its
    table changelog had reached): caught by the input position `ev.src`. An
    account's records from one input partition reach it in offset order (one
    consumer owns the partition and forwards in order to the account's one
    events partition), so any record at or below the highest offset applied
    from that partition is a repeat, however long ago it was applied.

    >>> state = AccountState()
    >>> ev = Event("e1", 1700000000.0, "acct-1", "m", 12, 900)
    >>> seen_before(state, ev)
    False
    >>> _ = update(state, ev)
    >>> seen_before(state, ev)
    True
    """
    if ev.src is not None and ev.src[1] <= state.offs.get(str(ev.src[0]), -1):
        return True
    return event_id_hash(ev.event_id) in state.ids


def update(state: AccountState, ev: Event, late_tolerance: float = 3600.0) -> bool:
    """Fold one (already de-duplicated) event into the account's statistics.

    Events arrive out of order (several gateways, retries, partitions). One
    older than the account's latest event by up to `late_tolerance` seconds is
    applied in full: counted into the rates without rewinding their decay.
    One later than that is still counted (events, content and shape) but
    left out of the timing statistics (rates, gaps, hours of the day), which
    it would only distort; the function then returns True.

    The compiled twin (`FOLD`) takes the record and event it expects and gives
    the same record; anything else it leaves to `python_update`.

    >>> state = AccountState()
    >>> update(state, Event("e1", 1700000000.0, "acct-1", "m", 12, 900, stop_reason="max_tokens"))
    False
    >>> state.n, state.first, state.max_stop
    (1, 1700000000.0, 1.0)
    >>> update(state, Event("e2", 1700000000.0 - 2 * HOUR, "acct-1", "m", 12, 900))
    True
    """
    if FOLD is not None and (got := FOLD.update(state.__dict__, ev, late_tolerance)) is not None:
        return got
    return python_update(state, ev, late_tolerance)


def python_update(state: AccountState, ev: Event, late_tolerance: float = 3600.0) -> bool:
    """`update` in Python: the reference the compiled twin is checked against."""
    ts = ev.ts
    state.n += 1
    if state.n == 1:
        state.first = state.last = state.hours_ts = ts
    elif ts < state.first:
        state.first = ts
    ids = state.ids
    ids.append(event_id_hash(ev.event_id))
    if len(ids) > RECENT_IDS:
        del ids[0]
    if ev.src is not None:
        state.offs[str(ev.src[0])] = ev.src[1]
    too_late = ts < state.last - late_tolerance
    if not too_late:
        _update_timing(state, ts)
    bucket_update(state.tsig, ts)  # when, not how fast: late events count here too
    _update_content(state, ev)
    _update_shape(state, ev)
    return too_late


def _update_timing(state: AccountState, ts: float) -> None:
    dt = ts - state.last
    if dt > 0:  # decay forward in event time; a late event is counted without rewinding
        state.r_hour = state.r_hour * math.exp(-dt / HOUR) + 1.0
        state.r_day = state.r_day * math.exp(-dt / DAY) + 1.0
        state.last = ts
    else:
        state.r_hour += 1.0
        state.r_day += 1.0
    if dt >= 0 and state.n > 1:
        state.gaps += 1
        d = math.log1p(dt) - state.gap_mean
        a = max(ALPHA, 1.0 / state.gaps)
        state.gap_mean += a * d
        state.gap_var = (1 - a) * (state.gap_var + a * d * d)
    hours = state.hours
    if ts > state.hours_ts + HOURS_STEP:  # rounded: the record stays small (3 decimals a count)
        k = math.exp(-(ts - state.hours_ts) / HOURS_TAU)
        # an idle hour stays 0.0 without the (slow) round: idle hours are many (nights)
        hours = state.hours = [round(h * k, 3) if h else 0.0 for h in hours]
        state.hours_ts = ts
    hours[int(ts // HOUR) % 24] += 1.0


def _update_content(state: AccountState, ev: Event) -> None:
    if ev.content is not None:
        state.emb, state.emb_n = fold_chunk(state.emb, state.emb_n, ev.content)
    if ev.template_fp is not None:
        state.text_n += 1
        a = max(ALPHA, 1.0 / state.text_n)
        reused = misra_gries(state.tpl, ev.template_fp, TOP_TEMPLATES)
        state.tpl_reuse += a * ((1.0 if reused else 0.0) - state.tpl_reuse)
        if ev.header_fp is not None:
            misra_gries(state.hdr, ev.header_fp, TOP_HEADERS)
        system_fp = ev.system_fp
        same_sys = system_fp is not None and system_fp == state.sys_fp
        state.sys_reuse += a * ((1.0 if same_sys else 0.0) - state.sys_reuse)
        if system_fp is not None:
            state.sys_fp = system_fp
    if ev.cot is not None:
        state.cot_n += 1
        a = max(ALPHA, 1.0 / state.cot_n)
        state.cot += a * ((1.0 if ev.cot else 0.0) - state.cot)
        state.cot_ev = state.cot_ev + COT_UP if ev.cot else max(0.0, state.cot_ev - COT_DOWN)
    if ev.focus is not None:
        state.focus_n += 1
        a = max(ALPHA, 1.0 / state.focus_n)
        state.focus += a * ((1.0 if ev.focus else 0.0) - state.focus)


def misra_gries(summary: list[list[Any]], key: str, size: int) -> bool:
    """Count `key` in a Misra-Gries heavy-hitter summary; True if it was already tracked.

    A bounded summary keeps the record small while still catching the few
    templates a campaign repeats thousands of times.

    >>> summary = []
    >>> misra_gries(summary, "a", 2), misra_gries(summary, "a", 2), misra_gries(summary, "b", 2)
    (False, True, False)
    >>> summary
    [['a', 2], ['b', 1]]

    A new key in a full summary takes one off every count, dropping those at zero:

    >>> misra_gries(summary, "c", 2), summary
    (False, [['a', 1]])
    """
    for entry in summary:
        if entry[0] == key:
            entry[1] += 1
            return True
    if len(summary) < size:
        summary.append([key, 1])
        return False
    for entry in summary:
        entry[1] -= 1
    summary[:] = [e for e in summary if e[1] > 0]
    return False


def _update_shape(state: AccountState, ev: Event) -> None:
    tools, tool_calls = ev.tools, ev.tool_calls
    if tools is not None or tool_calls is not None:
        state.tools_n += 1
        a = max(ALPHA, 1.0 / state.tools_n)
        state.tools += a * (float(tools or 0) - state.tools)
        state.tool_calls += a * (float(tool_calls or 0) - state.tool_calls)
    if ev.turns is not None:
        state.turns_n += 1
        a = max(ALPHA, 1.0 / state.turns_n)
        state.turns += a * (math.log(ev.turns) - state.turns)
    a = max(ALPHA, 1.0 / state.n)
    ratio = math.log((ev.output_tokens + 1) / (ev.input_tokens + 1))
    state.out_in += a * (ratio - state.out_in)
    state.out_tok += a * (math.log1p(ev.output_tokens) - state.out_tok)
    if ev.stop_reason is not None:
        state.stop_n += 1
        a = max(ALPHA, 1.0 / state.stop_n)
        state.max_stop += a * ((1.0 if ev.stop_reason == "max_tokens" else 0.0) - state.max_stop)


def _compiled_fold() -> AccountFold | None:
    """The compiled `update`, given this module's and `cooccurrence`'s constants and the
    helpers it calls back (`new_signature` for a stale signature, `fold_chunk` for content)."""
    if NATIVE is None:
        return None
    constants = {
        "ALPHA": ALPHA, "HOUR": HOUR, "DAY": DAY, "HOURS_TAU": HOURS_TAU,
        "HOURS_STEP": HOURS_STEP, "RECENT_IDS": RECENT_IDS, "TOP_TEMPLATES": TOP_TEMPLATES,
        "TOP_HEADERS": TOP_HEADERS, "COT_UP": COT_UP, "COT_DOWN": COT_DOWN,
        **cooccurrence.signature_rules(),
    }
    fold: AccountFold = NATIVE.AccountFold(constants, list(cooccurrence.SEEDS), new_signature,
                                           fold_chunk)
    return fold


#: the compiled twin of `update` (None: Python only); `compiled.python_twin` sets it aside
FOLD = twin(__name__, "FOLD", _compiled_fold())


def hour_coverage(state: AccountState) -> float:
    """Share of the 24 hours of the day with a real part of the activity.

    An hour counts when it holds at least a third of its fair share (1/24) of
    recent activity: a person is idle for a third of the day or more, a 24/7
    harvesting pipeline is not.
    """
    total = sum(state.hours)
    if total <= 0:
        return 0.0
    cut = total / 72.0
    return len([h for h in state.hours if h >= cut]) / 24.0


def features(state: AccountState) -> dict[str, float]:
    """Numeric feature vector for the population model, one value per signal."""
    return {
        "rate_hour": math.log1p(state.r_hour),
        "rate_day": math.log1p(state.r_day),
        "gap_std": math.sqrt(state.gap_var),
        "hour_coverage": hour_coverage(state),
        "template_reuse": state.tpl_reuse,
        "system_reuse": state.sys_reuse,
        "focus": state.focus,
        "cot": state.cot,
        "tools": math.log1p(state.tools),
        "tool_calls": math.log1p(state.tool_calls),
        "turns": state.turns,
        "out_in": state.out_in,
        "out_tokens": state.out_tok,
        "max_stop": state.max_stop,
    }
