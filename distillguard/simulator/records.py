"""One gateway record: an account's request turned into the event the gateway publishes.

The stream modules decide when an account sends what; this module fills in everything a
gateway adds to a request (ids, model, token counts, the response's status, stop reason and
latency) in the wire contract's field layout.
"""

from __future__ import annotations

import random

from distillguard.simulator.config import (
    EXTRACTION,
    LEGACY_MODEL,
    MINI_MODEL,
    OLD_MODEL,
    ORGANIC,
    SimConfig,
)
from distillguard.simulator.roster import Account
from distillguard.simulator.sampling import _hex, _lognorm, _pick

#: generation speed per model, for response latencies
MS_PER_TOKEN = {OLD_MODEL: 14.0, MINI_MODEL: 6.0, LEGACY_MODEL: 11.0}
#: statuses of failed requests, rate limits the most common
ERROR_STATUSES = (429, 429, 429, 529, 500, 400)


def _tokens(text: str | None) -> int:
    """Rough tokenizer stand-in (about four characters per token)."""
    return 0 if not text else len(text) // 4 + 1


def _model_at(acct: Account, ts: float, cfg: SimConfig, rng: random.Random) -> str:
    if ts >= acct.adopt_ts and rng.random() < (1.0 if acct.label == EXTRACTION else 0.7):
        return cfg.new_model
    return acct.model


def _emit(acct: Account, rng: random.Random, ts: float, *, client: dict, model: str,
          prompt: str, task: str, turns: int, in_tokens: int, want_out: float,
          tool_calls: int = 0, endpoint: str = "messages", stop_seq_p: float = 0.0,
          campaign: str | None = None) -> dict:
    """One gateway record; the response half (status, stop, latency) is derived here."""
    cap = acct.max_tokens
    status = 200 if rng.random() >= acct.err_rate else _pick(rng, ERROR_STATUSES)
    if status != 200:
        out, stop, tool_calls = 0, None, 0
        latency = rng.uniform(15, 400)
    else:
        out = max(1, int(want_out))
        if out >= cap:
            out, stop = cap, "max_tokens"
        elif tool_calls:
            stop = "tool_use"
        elif stop_seq_p and rng.random() < stop_seq_p:
            stop = "stop_sequence"
        else:
            stop = "end_turn"
        latency = rng.uniform(180, 900) + in_tokens * 0.02 + out * MS_PER_TOKEN.get(model, 16.0)
    ev = {
        "event_id": _hex(rng, 128),
        "ts": round(ts, 3),
        "account_id": acct.account_id,
        "org_id": acct.org_id,
        "api_key_id": _pick(rng, acct.api_keys),
        "model": model,
        "endpoint": endpoint,
        "input_tokens": in_tokens,
        "output_tokens": out,
        "max_tokens": cap,
        "status": status,
        "latency_ms": round(latency, 1),
        "stream": rng.random() < acct.stream_p,
        "turns": turns,
        "tools": acct.tools,
        "tool_calls": tool_calls,
        "prompt": prompt,
        "client": dict(client),
        "account_created": acct.created,
        "sim_label": ORGANIC if campaign is None else EXTRACTION,
        "sim_persona": acct.persona,
    }
    if stop is not None:
        ev["stop_reason"] = stop
    if acct.system is not None:
        ev["system"] = acct.system
    if acct.payment_fp is not None:
        ev["payment_fp"] = acct.payment_fp
    if rng.random() < 0.5:  # the gateway classifier only labels about half of the traffic
        ev["task"] = task
    if campaign is not None:
        ev["sim_campaign"] = campaign
    return ev


def _context_tokens(rng: random.Random, acct: Account, prompt: str, turns: int,
                    per_turn: float) -> int:
    history = _lognorm(rng, (turns - 1) // 2 * per_turn, 0.5) if turns > 1 else 0.0
    return _tokens(acct.system) + _tokens(prompt) + acct.tools * 260 + int(history)
