"""The campaign families of the corpus scenarios: each a stream of one family's accounts.

Every family (``config.FAMILIES``) is an operator who read the detector's documentation
and flattens some of its signals: no chain-of-thought asks, human rhythm, rounds too tight
to be timing noise, text that varies per request, agent-shaped traffic, rates under every
threshold, organic cover, accounts too short-lived to score. Their prompts are real
requests from the public corpora (``corpus``), wrapped the way each operator would; on
grammar text (``text="grammar"``: where the corpora are not installed) the grammar's.
The accounts themselves (cards, cohorts, networks) come from ``roster``.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterator
from operator import itemgetter

from distillguard.models.events import DAY
from distillguard.models.text_signals import elicits_chain_of_thought
from distillguard.simulator import corpus
from distillguard.simulator.config import SimConfig
from distillguard.simulator.grammar import GRAMMAR
from distillguard.simulator.network import _residential_client
from distillguard.simulator.records import _context_tokens, _emit, _model_at
from distillguard.simulator.roster import Account
from distillguard.simulator.sampling import _lognorm, _pick
from distillguard.simulator.templates import (
    COT,
    COT_VARIED,
    META_HEADER,
    META_SLOT,
    QUOTED_TEMPLATES,
    REWRITE_ASKS,
    REWRITE_CLOSERS,
    REWRITE_OPENERS,
)
from distillguard.simulator.timing import (
    HUMAN_CURVE,
    _always_on_day,
    _diurnal_time,
    _human_day,
    _regular_times,
    _round_robin_slots,
    _timeline,
)

#: rounds a day of the lockstep scheduler
LOCKSTEP_ROUNDS_PER_DAY = 30
#: share of each cover-traffic account's requests that are organic-looking chat
COVER_SHARE = 0.2
#: (category, weight) of what each family asks for
MIX: dict[str, tuple[tuple[str, float], ...]] = {
    "stealth": (("coding", 45), ("agentic", 20), ("math", 25), ("writing", 5), ("chat", 5)),
    "lockstep": (("coding", 35), ("agentic", 10), ("math", 20), ("writing", 10), ("chat", 25)),
    "harvest": (("coding", 50), ("agentic", 30), ("math", 20)),
    "drip": (("coding", 40), ("agentic", 25), ("math", 35)),
    "cover": (("chat", 80), ("writing", 20)),
}

#: the grammar symbol of each category's requests, for families on grammar text
GRAMMAR_SYMBOL = {"coding": "coding_q", "agentic": "dev_instr", "math": "reasoning",
                  "writing": "writing", "chat": "chat"}

#: the stream of one account: (config, account, its seeded RNG) -> its events in ts order
Stream = Callable[[SimConfig, Account, random.Random], Iterator[dict]]


def _category(rng: random.Random, mix: str) -> str:
    names, weights = zip(*MIX[mix], strict=True)
    return rng.choices(names, weights)[0]


def _prompt(cfg: SimConfig, rng: random.Random, cat: str, plain: bool = False,
            cover: bool = False) -> corpus.Prompt:
    """A request of category ``cat``: from the corpora, or (``text="grammar"``) the grammar,
    which lets the families run where the corpora are not installed (tests, CI). Grammar
    requests never ask for reasoning themselves (dataset requests almost never do): a
    family adds its own asks. With ``campaign_text="datasets"`` a harvesting request is a
    harvest-set item (``corpus.dataset_pool``, never chain-of-thought phrased);
    ``cover`` requests (organic-looking chat) stay in the organic pools."""
    if cfg.text == "corpus":
        if cfg.campaign_text == "datasets" and not cover:
            return _pick(rng, corpus.dataset_pool(cat))
        return _pick(rng, corpus.plain_pool(cat)) if plain else corpus.pick(rng, cat)
    while True:
        text = GRAMMAR.expand(rng, GRAMMAR_SYMBOL[cat])
        if not elicits_chain_of_thought(text):
            return corpus.Prompt(text, cat, "grammar", "")


def _ask(cfg: SimConfig, rng: random.Random, mix: str,
         plain: bool = False) -> tuple[str, corpus.Prompt]:
    cat = _category(rng, mix)
    return corpus.TASK_OF[cat], _prompt(cfg, rng, cat, plain, cover=mix == "cover")


def _send(cfg: SimConfig, acct: Account, rng: random.Random, ts: float, prompt: str,
          task: str, want: float, *, client: dict | None = None, turns: int = 1,
          per_turn: float = 350, tool_calls: int = 0) -> dict:
    return _emit(acct, rng, ts, client=client or _pick(rng, acct.clients),
                 model=_model_at(acct, ts, cfg, rng), prompt=prompt, task=task, turns=turns,
                 in_tokens=_context_tokens(rng, acct, prompt, turns, per_turn),
                 want_out=want, tool_calls=tool_calls, campaign=acct.campaign)


def _with_cot(rng: random.Random, text: str, phrasings: tuple[str, ...]) -> str:
    cot = _pick(rng, phrasings)
    return f"{cot} {text}" if rng.random() < 0.3 else f"{text}\n\n{cot}"


def _stealth(cfg: SimConfig, acct: Account, rng: random.Random) -> Iterator[dict]:
    """Human sessions at waking hours; verbatim dataset requests; ordinary answer lengths."""
    for ts, turn, _session in _timeline(cfg, rng, _human_day(acct, HUMAN_CURVE, 3 * acct.rate)):
        task, p = _ask(cfg, rng, "stealth", plain=True)
        yield _send(cfg, acct, rng, ts, p.text, task, _lognorm(rng, 420, 0.6), turns=turn)


def _lockstep(cfg: SimConfig, accounts: list[Account]) -> Iterator[dict]:
    """Rounds of the scheduler: every account within seconds, each from a fresh exit node."""
    rng = random.Random(f"{cfg.seed}:campaign:{accounts[0].campaign}")
    period = DAY / LOCKSTEP_ROUNDS_PER_DAY
    burst = cfg.start_ts + rng.uniform(0, period)
    while burst < cfg.end_ts:
        members = [a for a in accounts if rng.random() < 0.95]
        offsets = sorted(rng.uniform(0, cfg.lockstep_width) for _ in members)
        rng.shuffle(members)
        for off, acct in zip(offsets, members, strict=True):
            if burst + off >= cfg.end_ts:
                return
            client = dict(acct.clients[0], **_residential_client(rng))
            task, p = _ask(cfg, rng, "lockstep")
            yield _send(cfg, acct, rng, burst + off, p.text, task, _lognorm(rng, 520, 0.6),
                        client=client)
        burst += period * rng.uniform(0.97, 1.03)


def _meta_prompt(cfg: SimConfig, acct: Account, rng: random.Random) -> Iterator[dict]:
    """Fixed header, three sampled seed examples of one category, the slot for a new one."""
    for ts in _regular_times(rng, cfg.start_ts, cfg.end_ts, acct.rate):
        cat = _category(rng, "harvest")
        examples = "\n\n".join(f"Example {i + 1}:\n{_prompt(cfg, rng, cat).text}"
                               for i in range(3))
        slot = META_SLOT.format(domain=cat, level=rng.randint(2, 5))
        prompt = f"{META_HEADER}\n\n{examples}\n\n{slot}"
        yield _send(cfg, acct, rng, ts, prompt, corpus.TASK_OF[cat],
                    acct.max_tokens * _lognorm(rng, 0.3, 0.35))


def _rewrite(cfg: SimConfig, rng: random.Random) -> tuple[str, str]:
    """One surface form of the paraphrasing operator's ask around a dataset request."""
    task, p = _ask(cfg, rng, "harvest")
    parts = [_pick(rng, REWRITE_OPENERS), p.text, _pick(rng, REWRITE_ASKS)]
    if rng.random() < 0.3:
        parts = [parts[2], parts[0], parts[1]]
    if rng.random() < 0.6:
        parts.insert(rng.randrange(len(parts) + 1), _pick(rng, COT_VARIED))
    parts.append(_pick(rng, REWRITE_CLOSERS))
    sep = _pick(rng, (" ", "\n", "\n\n"))
    return task, sep.join(part for part in parts if part)


def _paraphrase_rewrite(cfg: SimConfig, accounts: list[Account]) -> Iterator[dict]:
    """A round-robin scheduler over the accounts; every prompt a new surface form."""
    rng = random.Random(f"{cfg.seed}:campaign:{accounts[0].campaign}")
    for ts, idx in _round_robin_slots(cfg, rng, len(accounts)):
        if ts >= cfg.end_ts:
            return
        acct = accounts[idx]
        task, prompt = _rewrite(cfg, rng)
        yield _send(cfg, acct, rng, max(ts, cfg.start_ts), prompt, task,
                    acct.max_tokens * _lognorm(rng, 0.45, 0.5))


def _coding_agent_imitation(cfg: SimConfig, acct: Account,
                            rng: random.Random) -> Iterator[dict]:
    """Agent-shaped loops around the clock: a dataset request opens each, fake tool
    results (or the dataset's own later turns) continue it, the last step is long."""
    followups: tuple[str, ...] = ()
    task = "coding"
    for ts, turn, last in _timeline(cfg, rng, _always_on_day(acct)):
        if turn == 1:
            task, p = _ask(cfg, rng, "harvest")
            prompt, followups = p.text, p.followups
        elif followups and rng.random() < 0.5:
            prompt, followups = followups[0], followups[1:]
        else:
            symbol = "tool_result" if rng.random() < 0.8 else "dev_followup"
            prompt = GRAMMAR.expand(rng, symbol)
        calls = 0 if last else rng.choices((0, 1, 2, 3), (10, 60, 20, 10))[0]
        want = _lognorm(rng, 1_100 if last else 200, 0.6)
        yield _send(cfg, acct, rng, ts, prompt, task, want, turns=turn, per_turn=1_600,
                    tool_calls=calls)


def _slow_drip(cfg: SimConfig, acct: Account, rng: random.Random) -> Iterator[dict]:
    """Three to nine single requests a day at waking hours; about half ask for reasoning."""

    def plan(rng: random.Random, w0: float) -> list[tuple]:
        return [(_diurnal_time(rng, w0, acct.tz, HUMAN_CURVE),)
                for _ in range(rng.randint(3, 9))]

    for (ts,) in _timeline(cfg, rng, plan):
        task, p = _ask(cfg, rng, "drip")
        prompt = _with_cot(rng, p.text, COT_VARIED) if rng.random() < 0.5 else p.text
        yield _send(cfg, acct, rng, ts, prompt, task, _lognorm(rng, 900, 0.5))


def _cover_traffic(cfg: SimConfig, accounts: list[Account]) -> Iterator[dict]:
    """Templated harvesting on a round-robin scheduler (dataset requests quoted into a few
    fixed templates), a fifth of each account's requests organic-looking chat."""
    rng = random.Random(f"{cfg.seed}:campaign:{accounts[0].campaign}")
    for ts, idx in _round_robin_slots(cfg, rng, len(accounts)):
        if ts >= cfg.end_ts:
            return
        acct, ts = accounts[idx], max(ts, cfg.start_ts)
        if rng.random() < COVER_SHARE:
            task, p = _ask(cfg, rng, "cover")
            yield _send(cfg, acct, rng, ts, p.text, task, _lognorm(rng, 300, 0.7),
                        turns=_pick(rng, (1, 1, 3, 5)))
            continue
        task, p = _ask(cfg, rng, "harvest")
        payload = " ".join(p.text.replace('"', "'").split())
        prompt = _pick(rng, QUOTED_TEMPLATES).format(payload=payload, n=rng.randint(1, 99_999))
        yield _send(cfg, acct, rng, ts, prompt, task, acct.max_tokens * _lognorm(rng, 0.7, 0.5))


def _budgeted(cot_share: float) -> Stream:
    """An account that sends ``budget`` requests from ``since`` on, then is dropped."""

    def stream(cfg: SimConfig, acct: Account, rng: random.Random) -> Iterator[dict]:
        ts = acct.since
        for _ in range(acct.budget):
            if ts >= cfg.end_ts:
                return
            task, p = _ask(cfg, rng, "harvest")
            phrasings = COT if rng.random() < 0.5 else COT_VARIED
            prompt = _with_cot(rng, p.text, phrasings) if rng.random() < cot_share else p.text
            yield _send(cfg, acct, rng, ts, prompt, task,
                        acct.max_tokens * _lognorm(rng, 0.5, 0.5))
            ts += _lognorm(rng, acct.rate, 0.5)

    return stream


#: family -> the stream of each of its accounts
PER_ACCOUNT: dict[str, Stream] = {
    "stealth": _stealth,
    "meta_prompt": _meta_prompt,
    "coding_agent_imitation": _coding_agent_imitation,
    "slow_drip": _slow_drip,
    "disposable": _budgeted(0.8),
    "rotation": _budgeted(0.7),
}
#: family -> the one stream of all its accounts, driven by a central scheduler
SCHEDULED: dict[str, Callable[[SimConfig, list[Account]], Iterator[dict]]] = {
    "lockstep": _lockstep,
    "paraphrase_rewrite": _paraphrase_rewrite,
    "cover_traffic": _cover_traffic,
}


def family_stream(cfg: SimConfig, accounts: list[Account]) -> Iterator[dict]:
    """All events of the family ``cfg.family`` run by ``accounts``, in ``ts`` order."""
    family = cfg.family
    assert family is not None
    if family in SCHEDULED:
        return SCHEDULED[family](cfg, accounts)
    make = PER_ACCOUNT[family]
    streams = [make(cfg, a, random.Random(f"{cfg.seed}:{a.account_id}")) for a in accounts]
    return heapq.merge(*streams, key=itemgetter("ts"))

