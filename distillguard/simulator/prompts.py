"""Where the organic streams' prompt text comes from: the grammar, or the public corpora.

The organic streams ask for text by grammar symbol (``chat``, ``coding_q``, ``dev_instr``,
``app_travel``, ...). ``GRAMMAR`` answers every symbol itself; ``CorpusText`` answers each
symbol that a corpus fits with a real request of the matching pool, and hands the rest to
the grammar: fake tool results, product reviews, and (in part) writing asks and follow-ups,
whose corpus pools hold only a few hundred texts, too few for thousands of accounts
without turning them into shared templates no real population has.
"""

from __future__ import annotations

import random
from typing import Protocol

from distillguard.simulator import corpus
from distillguard.simulator.grammar import GRAMMAR
from distillguard.simulator.sampling import _pick


class Text(Protocol):
    """A source of prompt text by grammar symbol."""

    def expand(self, rng: random.Random, symbol: str) -> str:
        """One text for ``symbol``, drawn with ``rng``."""
        ...


#: clinc domains whose queries each kind of server app relays
APP_DOMAINS = {
    "app_support": ("banking", "credit_cards", "work", "utility", "auto_and_commute", "home"),
    "app_recipes": ("kitchen_and_dining",),
    "app_travel": ("travel",),
    "ticket_text": ("banking", "credit_cards", "auto_and_commute", "home", "work"),
    "other": ("utility", "home", "auto_and_commute", "work", "meta"),
}
#: share of each symbol's texts that still come from the grammar (small corpus pools)
GRAMMAR_SHARE = {"writing": 0.5, "followup": 0.6}
#: how people sometimes ask a tutor or a chat model to show the way to an answer
ORGANIC_COT = (" Can you explain step by step?", " Please show your work.",
               " Explain how you got the answer.", " I don't get it, can you walk me through it?")


class CorpusText:
    """Grammar symbols answered from the corpora's pools where one fits."""

    def __init__(self, loaded: corpus.Corpus) -> None:
        def texts(*pools: tuple[corpus.Prompt, ...]) -> tuple[str, ...]:
            return tuple(p.text for pool in pools for p in pool)

        def domains(names: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(p.text for p in loaded.by_source["clinc_oos"]
                         if p.label.split("/", 1)[0] in names)

        chat = loaded.pool("chat")
        coding = loaded.pool("coding")
        agentic = loaded.pool("agentic")
        self._pools: dict[str, tuple[str, ...]] = {
            "chat": texts(chat),
            "writing": texts(loaded.pool("writing")),
            "coding_q": texts(coding),
            "reasoning": texts(loaded.pool("math")),
            "app_tutor": texts(loaded.pool("math", ("gsm8k",))),
            "dev_instr": texts(coding, agentic),
            "followup": loaded.followups,
            **{symbol: domains(names) for symbol, names in APP_DOMAINS.items()},
        }

    def expand(self, rng: random.Random, symbol: str) -> str:
        """A corpus text for ``symbol``, or the grammar's where no corpus fits."""
        pool = self._pools.get(symbol)
        if pool is None or rng.random() < GRAMMAR_SHARE.get(symbol, 0.0):
            return GRAMMAR.expand(rng, symbol)
        text = _pick(rng, pool)
        if symbol in ("reasoning", "app_tutor") and rng.random() < 0.12:
            text += _pick(rng, ORGANIC_COT)
        return text


_CORPUS_TEXT: list[CorpusText] = []


def text_for(source: str) -> Text:
    """The text of a config's ``text`` setting: ``grammar`` or ``corpus``."""
    if source == "grammar":
        return GRAMMAR
    if not _CORPUS_TEXT:
        _CORPUS_TEXT.append(CorpusText(corpus.load()))
    return _CORPUS_TEXT[0]
