"""Deterministic, labelled traffic of LLM API gateway events: the per-persona streams.

Why this exists: the detector cannot be evaluated on production traffic (no labels), so we
synthesise the request stream an API gateway would publish to Kafka, with organic personas
that are deliberately hard to tell apart from extraction campaigns on any single field
(shared SDKs/JA4s/ASNs, cohort-created student accounts, templated batch jobs, agents with
CoT-like prompts). Every event carries ``sim_label`` / ``sim_persona`` / ``sim_campaign``
so benchmarks can score the detector; the detector ignores those fields.

Output is a merge of per-account (and per-campaign) generators ordered by event time, so
large scenarios stream without holding all events in memory, and a given ``SimConfig``
always yields byte-identical output (every random draw comes from a seeded ``Random``).
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable, Iterator
from operator import itemgetter
from typing import IO

import orjson

from distillguard.models.events import DAY
from distillguard.simulator.config import MINI_MODEL, SimConfig
from distillguard.simulator.families import family_stream
from distillguard.simulator.grammar import APP_KINDS, BATCH_KINDS
from distillguard.simulator.network import _JA4, _residential_client
from distillguard.simulator.prompts import text_for
from distillguard.simulator.records import _context_tokens, _emit, _model_at
from distillguard.simulator.roster import Account, roster
from distillguard.simulator.sampling import _lognorm, _pick
from distillguard.simulator.templates import (
    HYDRA_TEMPLATES,
    LOUD_TEMPLATES,
    PIVOT_TEMPLATES,
    Template,
)
from distillguard.simulator.timing import (
    HUMAN_CURVE,
    STUDENT_CURVE,
    Plan,
    _always_on_day,
    _batch_day,
    _developer_day,
    _human_day,
    _lockstep_slots,
    _regular_times,
    _round_robin_slots,
    _service_day,
    _timeline,
    _work_day,
)


def _account_rng(cfg: SimConfig, acct: Account) -> random.Random:
    return random.Random(f"{cfg.seed}:{acct.account_id}")


#: persona -> (session kinds, their weights): what a person's chat session is about
SESSION_TASKS = {
    "casual_chat": (("chat", "writing", "other", "coding_q", "reasoning"), (45, 25, 15, 8, 7)),
    "nat_student": (("chat", "writing", "coding_q", "reasoning", "other"), (25, 20, 35, 15, 5)),
    "company_staff": (("coding_q", "writing", "chat", "reasoning", "other"), (35, 30, 20, 10, 5)),
    "startup_team": (("coding_q", "writing", "chat", "reasoning", "other"), (40, 25, 20, 10, 5)),
}
#: session kind -> the gateway task label of its requests
TASK_LABEL = {"chat": "chat", "writing": "writing", "other": "other", "coding_q": "coding",
              "reasoning": "reasoning"}


def _human_stream(cfg: SimConfig, acct: Account, rng: random.Random,
                  until: float = math.inf, plan: Plan | None = None) -> Iterator[dict]:
    curve = STUDENT_CURVE if acct.persona == "nat_student" else HUMAN_CURVE
    kinds, weights = SESSION_TASKS.get(acct.persona, SESSION_TASKS["casual_chat"])
    text = text_for(cfg.text)
    sessions: dict[tuple[float, int], tuple[str, dict]] = {}
    plan = plan or _human_day(acct, curve, 2 * acct.rate)
    for ts, turn, session in _timeline(cfg, rng, plan):
        if ts >= until:
            return
        if turn == 1:
            sessions[session] = (rng.choices(kinds, weights)[0], _pick(rng, acct.clients))
        kind, client = sessions[session]
        fresh = turn == 1 or rng.random() < 0.4  # follow-ups mix reactions and new asks
        prompt = text.expand(rng, kind if fresh else "followup")
        want = _lognorm(rng, 380 if kind != "other" else 120, 0.7)
        calls = 1 if acct.tools and rng.random() < 0.08 else 0  # e.g. an occasional web search
        yield _emit(acct, rng, ts, client=client, model=_model_at(acct, ts, cfg, rng),
                    prompt=prompt, task=TASK_LABEL[kind], turns=turn,
                    in_tokens=_context_tokens(rng, acct, prompt, turn, 350), want_out=want,
                    tool_calls=calls)


def _developer_stream(cfg: SimConfig, acct: Account, rng: random.Random,
                      plan: Plan | None = None) -> Iterator[dict]:
    office, home = acct.clients[0], acct.clients[1:] or acct.clients
    last_day, client = -1, office
    text = text_for(cfg.text)
    for ts, turn, last in _timeline(cfg, rng, plan or _developer_day(acct)):
        day = int(ts // DAY)
        if day != last_day:
            last_day, client = day, office if rng.random() < 0.7 else _pick(rng, home)
        if turn == 1:
            prompt = text.expand(rng, "dev_instr")
        elif rng.random() < 0.75:
            prompt = text.expand(rng, "tool_result")
        else:
            prompt = text.expand(rng, "dev_followup")
        calls = 0 if last else rng.choices((0, 1, 2, 3), (10, 60, 20, 10))[0]
        want = _lognorm(rng, 700 if last else 180, 0.7)
        model = MINI_MODEL if rng.random() < 0.15 else _model_at(acct, ts, cfg, rng)
        yield _emit(acct, rng, ts, client=client, model=model, prompt=prompt,
                    task="coding" if rng.random() < 0.6 else "agentic", turns=turn,
                    in_tokens=_context_tokens(rng, acct, prompt, turn, 1_600),
                    want_out=want, tool_calls=calls)


def _server_stream(cfg: SimConfig, acct: Account, rng: random.Random) -> Iterator[dict]:
    _name, symbol, tasks, _system = APP_KINDS[acct.kind]
    text = text_for(cfg.text)
    for ts, turn in _timeline(cfg, rng, _service_day(acct)):
        u = rng.random()
        kind = symbol if u < 0.7 else "followup" if turn > 1 else _pick(rng, ("chat", "other"))
        prompt = text.expand(rng, kind)
        calls = 1 if acct.tools and rng.random() < 0.25 else 0
        yield _emit(acct, rng, ts, client=_pick(rng, acct.clients),
                    model=_model_at(acct, ts, cfg, rng), prompt=prompt,
                    task=tasks[0] if u < 0.7 else tasks[1], turns=turn,
                    in_tokens=_context_tokens(rng, acct, prompt, turn, 250),
                    want_out=_lognorm(rng, min(260, 0.35 * acct.max_tokens), 0.6),
                    tool_calls=calls)


def _batch_stream(cfg: SimConfig, acct: Account, rng: random.Random) -> Iterator[dict]:
    symbol, task, _system, template = BATCH_KINDS[acct.kind]
    next_id = rng.randint(1_000, 900_000)
    text = text_for(cfg.text)
    for (ts,) in _timeline(cfg, rng, _batch_day(acct)):
        next_id += 1
        prompt = template.format(id=next_id, text=text.expand(rng, symbol))
        short = rng.uniform(2, 12) if acct.kind < 2 else rng.uniform(18, 60)
        yield _emit(acct, rng, ts, client=_pick(rng, acct.clients), model=acct.model,
                    prompt=prompt, task=task, turns=1,
                    in_tokens=_context_tokens(rng, acct, prompt, 1, 1), want_out=short,
                    endpoint="batches", stop_seq_p=0.1)


def _extraction_event(cfg: SimConfig, acct: Account, rng: random.Random, ts: float,
                      templates: tuple[Template, ...], client: dict,
                      paraphrase: bool = False) -> dict:
    """A templated, CoT-eliciting, single-turn request asking for a long answer."""
    template = _pick(rng, templates)
    prompt = template.render(rng, paraphrase)
    return _emit(acct, rng, ts, client=client, model=_model_at(acct, ts, cfg, rng),
                 prompt=prompt, task=template.task, turns=1,
                 in_tokens=_context_tokens(rng, acct, prompt, 1, 1),
                 want_out=acct.max_tokens * _lognorm(rng, 0.7, 0.5),
                 tool_calls=1 if acct.tools and rng.random() < 0.1 else 0,
                 campaign=acct.campaign)


def _loud_stream(cfg: SimConfig, acct: Account, rng: random.Random) -> Iterator[dict]:
    for ts in _regular_times(rng, cfg.start_ts, cfg.end_ts, acct.rate):
        yield _extraction_event(cfg, acct, rng, ts, LOUD_TEMPLATES, acct.clients[0])


def _pivot_stream(cfg: SimConfig, acct: Account, rng: random.Random) -> Iterator[dict]:
    """Organic history first, then a scripted extraction run from the same networks."""
    pivot_ts = cfg.start_ts + cfg.pivot_day * DAY
    yield from _human_stream(cfg, acct, rng, until=pivot_ts)
    script = dict(acct.clients[0], sdk="anthropic-python", user_agent="anthropic-python/0.52.2",
                  ja4=_JA4["py311"])
    for ts in _regular_times(rng, max(pivot_ts, cfg.start_ts), cfg.end_ts,
                             cfg.pivot_rate_per_day):
        yield _extraction_event(cfg, acct, rng, ts, PIVOT_TEMPLATES, script)


def _hydra_stream(cfg: SimConfig, accounts: list[Account]) -> Iterator[dict]:
    """The whole coordinated campaign as one stream, driven by its central scheduler."""
    rng = random.Random(f"{cfg.seed}:campaign:{accounts[0].campaign}")
    templates = tuple(rng.sample(HYDRA_TEMPLATES, cfg.hydra_templates))
    # coding/agentic skew: weight non-reasoning templates higher
    weighted = tuple(t for t in templates for _ in range(1 if t.task == "reasoning" else 3))
    slots = (_lockstep_slots if cfg.hydra_timing == "lockstep" else _round_robin_slots)(
        cfg, rng, len(accounts))
    rotating = cfg.hydra_network == "residential_rotating"
    for ts, idx in slots:
        if ts >= cfg.end_ts:
            return
        acct = accounts[idx]
        client = _residential_client(rng) if rotating else _pick(rng, acct.pool)
        client = dict(acct.clients[0], ip=client["ip"], asn=client["asn"],
                      country=client["country"])
        yield _extraction_event(cfg, acct, rng, max(ts, cfg.start_ts), weighted, client,
                                paraphrase=cfg.hydra_paraphrase)


def _company_stream(cfg: SimConfig, acct: Account, rng: random.Random) -> Iterator[dict]:
    """Office staff: the human sessions of ``_human_stream`` on working days."""
    return _human_stream(cfg, acct, rng, plan=_work_day(acct, 2 * acct.rate))


def _startup_stream(cfg: SimConfig, acct: Account, rng: random.Random) -> Iterator[dict]:
    """A startup's developers run agent loops; the others chat on working days."""
    if acct.kind == 0:
        return _developer_stream(cfg, acct, rng)
    return _company_stream(cfg, acct, rng)


def _always_on_stream(cfg: SimConfig, acct: Account, rng: random.Random) -> Iterator[dict]:
    """An agent that a scheduler or CI runs: developer traffic around the clock."""
    return _developer_stream(cfg, acct, rng, plan=_always_on_day(acct))


def _signup_stream(cfg: SimConfig, acct: Account, rng: random.Random) -> Iterator[dict]:
    """A person who opened the account during the scenario: nothing before ``since``."""
    return (ev for ev in _human_stream(cfg, acct, rng) if ev["ts"] >= acct.since)


#: persona -> the stream of each of its accounts (campaign personas share one stream)
STREAMS: dict[str, Callable[[SimConfig, Account, random.Random], Iterator[dict]]] = {
    "casual_chat": _human_stream,
    "nat_student": _human_stream,
    "developer_agent": _developer_stream,
    "server_app": _server_stream,
    "batch_pipeline": _batch_stream,
    "company_staff": _company_stream,
    "family_card": _human_stream,
    "startup_team": _startup_stream,
    "always_on_agent": _always_on_stream,
    "new_signup": _signup_stream,
    "loud": _loud_stream,
    "pivot": _pivot_stream,
}


def generate(cfg: SimConfig) -> Iterator[dict]:
    """Stream all events of a scenario in non-decreasing ``ts`` order (deterministic)."""
    accounts = roster(cfg)
    streams = [STREAMS[a.persona](cfg, a, _account_rng(cfg, a)) for a in accounts
               if a.persona in STREAMS]
    campaign = [a for a in accounts if a.persona not in STREAMS]
    if campaign and cfg.family is None:
        streams.append(_hydra_stream(cfg, campaign))
    elif campaign:
        streams.append(family_stream(cfg, campaign))
    return heapq.merge(*streams, key=itemgetter("ts"))


def ground_truth(cfg: SimConfig) -> dict[str, str]:
    """account_id -> "organic" | "extraction" (pivot accounts count as extraction)."""
    return {a.account_id: a.label for a in roster(cfg)}


def write_jsonl(cfg: SimConfig, out: IO[bytes]) -> int:
    """Write the scenario as JSON lines (the Kafka payload format); returns the event count."""
    count = 0
    dumps = orjson.dumps
    for ev in generate(cfg):
        out.write(dumps(ev, option=orjson.OPT_APPEND_NEWLINE))
        count += 1
    return count
