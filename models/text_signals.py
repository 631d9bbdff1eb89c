"""Signals derived from prompt and system text, in memory only.

The gateway may send the raw `prompt` and `system` text. distillguard never
stores or forwards it: this module turns text into 64-bit fingerprints and a
few booleans, and the caller drops the text right after. Everything here is a
pure function so it can be tested without Kafka.

Template fingerprints exist because extraction operators fill a handful of
prompt templates with varying numbers, names, code and quoted content: hashing
the text with those slots replaced by placeholders maps every fill of one
template to one key, while two unrelated human prompts almost never collide.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

from distillguard.models.compiled import NATIVE, twin

if TYPE_CHECKING:
    from distillguard.models._native import TextSignals

_CODE_BLOCK = re.compile(r"```.*?(```|$)", re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_QUOTED = re.compile(r"\"[^\"\n]*\"|“[^”\n]*”|'[^'\n]{2,}'")
_URL = re.compile(r"\b(?:https?://|www\.)\S+")
_NUMBER = re.compile(r"[-+]?\d+(?:[.,:/]\d+)*")
# identifiers that look like code: snake_case, camelCase, dotted.paths, call()s. The
# possessive repeats (`++`, `*+`) match exactly what greedy ones would here (what follows
# each can never be what it gives back) but skip the backtracking retries, which every
# prompt would otherwise pay for (this scan runs on each one).
_IDENT = re.compile(
    r"\b(?:[A-Za-z_]\w*_\w+|[a-z]++[A-Z]\w*+|\w++(?:\.\w++)++|[A-Za-z_]\w*+\(\))"
)
# a capitalised word that does not start a sentence: a name or proper noun
_NAME = re.compile(r"(?<=[a-z,;:] )[A-Z][a-z]+")
_WORD = re.compile(r"<\w+>|[a-z]+")

_CODING = re.compile(
    r"```|\b(?:def|class|function|func|return|import|const|let|var|async|await|"
    r"python|javascript|typescript|rust|golang|java|c\+\+|sql|regex|bash|"
    r"code|coding|compile|compiler|debug|bug|refactor|unit tests?|stack ?trace|"
    r"exception|algorithm|implement|api|endpoint|repository|repo|git|"
    r"segfault|runtime error|type error|null pointer)\b",
)
_COT = re.compile(
    r"\b(?:step[- ]by[- ]step|"
    r"show (?:your|all|the) (?:full |complete )?(?:work|reasoning|thinking)|"
    r"(?:explain|walk me through|write out|detail) (?:your|the|all|each) "
    r"(?:full |complete |internal )?(?:reasoning|thought process|chain of thought|thinking)|"
    r"chain[- ]of[- ]thought|think (?:carefully |hard )?(?:about|through) (?:each|every|all)|"
    r"reason (?:through|carefully)|before (?:giving|the|your) (?:final )?answer|"
    r"<thinking>|scratchpad|inner monologue|"
    # paraphrases of "show your reasoning" that harvesters rotate through
    r"(?:show|include|give|provide|lay out|outline|describe|present|spell out) (?:me )?"
    r"(?:your|each|every|all your) (?:intermediate |individual |key )?"
    r"(?:steps?|reasoning|derivation|working|workings|rationale|thought process|logic)|"
    r"(?:show|include|give|provide|lay out|outline|present|spell out) (?:me )?the "
    r"(?:intermediate )?(?:steps of your|reasoning|derivation|rationale|thought process)|"
    r"explain (?:your|the) (?:logic|rationale|approach|derivation)|"
    r"(?:explain|describe|show)(?: me| us)? how you (?:arrived|got|reached|came)|"
    r"justify (?:each|every|your) (?:step|answer|choice|decision)|"
    r"(?:one|each) step at a time|think (?:it |this )?(?:through|out loud|aloud)|"
    r"let'?s think|reasoning (?:trace|process|steps)|think before you answer|"
    r"intermediate (?:steps|reasoning|results))\b",
)

#: a short clause asking for the process of answering, not only the answer, in words the
#: pattern above lacks ("Lay out each stage before the result", "Walk me through it"):
#: a reasoning-process term together with a verb of showing or doing it
_PROCESS = re.compile(
    r"\b(?:(?:each|every|your|into|intermediate) (?:steps?|stages?)|"
    r"(?:steps?|stages?) of (?:the|your) (?:solution|reasoning|work|answer|derivation)|"
    r"reasoning|derivations?|derive|logic|logically|rationale|"
    r"thought process|thinking|one (?:part|piece|step) at a time|piece by piece|"
    r"how you (?:got|get|arrived|arrive|reached|reach|came|solved)|"
    r"(?:before|not just|don'?t just (?:give|state)) (?:you |giving |stating )?(?:the |your )?"
    r"(?:final )?(?:answer|result|conclusion))\b")
_EXPOSE = re.compile(
    r"\b(?:show|explain|walk|lay|spell|outline|detail|describe|include|write|go|break|"
    r"justify|derive|reason|think|present|demonstrate|give|provide|work|carry)\b")
_CLAUSE = re.compile(r"[.!?;:\n]+")
#: words in a clause that is an instruction about the answer rather than the task itself
CLAUSE_WORDS = 20

#: kinds of task counted as the capability focus of extraction campaigns
FOCUS_TASKS = frozenset({"coding", "agentic"})
#: only this much of a prompt is scanned for template slots and task words: the
#: fingerprint of the whole text is cheap, regex analysis of a 1 MiB prompt is not
MAX_ANALYSED_CHARS = 16_384
#: a prompt at least twice this long has a header: its first line if that is
#: HEADER_MIN_CHARS to this long, else its first this many characters
HEADER_CHARS = 200
#: a first line shorter than this ("Hi,", "Task:") is no pipeline's instruction
HEADER_MIN_CHARS = 32

#: what `signals` gives: the prompt's exact, header and template fingerprints, whether
#: it elicits chain-of-thought and (if asked) whether it looks like coding, and the
#: system text's fingerprint; None where there is no such text
Signals = tuple[str | None, str | None, str | None, bool | None, bool | None, str | None]


def fingerprint(text: str) -> str:
    """64-bit fingerprint of `text` as 16 hex chars (BLAKE2b, stable across runs).

    >>> fingerprint("hello")
    'a7b6eda801e5347d'
    """
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def template_skeleton(text: str) -> str:
    """The text with its variable parts replaced by typed placeholders.

    Order matters: code blocks and quotes first (they contain numbers and
    identifiers), then URLs, identifiers, numbers and names. Only lower-case
    words and placeholders are kept, so punctuation and spacing do not split a
    template.

    >>> template_skeleton("Solve problem 17 for Bob, then show your work.")
    'solve problem <n> for <name> then show your work'
    """
    s = text
    if "`" in s:  # each test skips a scan that cannot match (the costliest step of parsing)
        s = _CODE_BLOCK.sub(" <code> ", s)
        s = _INLINE_CODE.sub(" <code> ", s)
    if '"' in s or "'" in s or "“" in s:
        s = _QUOTED.sub(" <q> ", s)
    if "http" in s or "www." in s:
        s = _URL.sub(" <url> ", s)
    s = _IDENT.sub(" <id> ", s)
    s = _NUMBER.sub(" <n> ", s)
    s = _NAME.sub(" <name> ", s)
    return " ".join(_WORD.findall(s.lower()))


def template_fingerprint(text: str) -> str:
    """Fingerprint shared by all fills of one prompt template.

    >>> template_fingerprint("Solve problem 17 for Bob.") == template_fingerprint(
    ...     "Solve problem 4 for Carol.")
    True
    """
    return fingerprint(template_skeleton(text))


def exact_fingerprint(text: str) -> str:
    """Fingerprint of the text itself, blind only to whitespace and case.

    >>> exact_fingerprint("Hello  World") == exact_fingerprint("hello world")
    True
    >>> exact_fingerprint("hello world") == exact_fingerprint("hello, world")
    False
    """
    return fingerprint(" ".join(text.lower().split()))


def looks_like_coding(text: str) -> bool:
    """Cheap keyword test for a coding request, used when the gateway sends no `task`.

    >>> looks_like_coding("Fix this bug in my parser"), looks_like_coding("Plan a trip to Rome")
    (True, False)
    """
    return _CODING.search(text.lower()) is not None


def prompt_header(prompt: str) -> str | None:
    """The fixed opening a pipeline would put before what it samples, if `prompt` is long.

    Its first line when that ends within `HEADER_MIN_CHARS`..`HEADER_CHARS`
    characters (a short instruction line before the seed examples), else its first
    `HEADER_CHARS` characters (a long instruction block).

    >>> prompt_header("Write one new task in the style of these examples.\\n" + "seed " * 80)
    'Write one new task in the style of these examples.'
    >>> len(prompt_header("An instruction block without a break. " * 12))
    200
    >>> prompt_header("Sort this list in python.") is None
    True
    """
    if len(prompt) < 2 * HEADER_CHARS:
        return None
    cut = prompt.find("\n", HEADER_MIN_CHARS, HEADER_CHARS)
    return prompt[:cut] if cut > 0 else prompt[:HEADER_CHARS]


def elicits_chain_of_thought(text: str) -> bool:
    """Whether the prompt asks the model to spell out its reasoning.

    Distillers want the reasoning trace as training data, so they ask for it
    explicitly and on every request; people rarely do.

    >>> elicits_chain_of_thought("Think step by step before answering.")
    True
    >>> elicits_chain_of_thought("What is the capital of France?")
    False
    >>> elicits_chain_of_thought("Solve x + 2 = 5. Go through it carefully, one part at a time.")
    True
    >>> elicits_chain_of_thought("List all files under the current working directory")
    False
    """
    lowered = text.lower()
    if _COT.search(lowered) is not None:
        return True
    if _PROCESS.search(lowered) is None:
        return False
    return any(len(clause.split()) <= CLAUSE_WORDS and _PROCESS.search(clause)
               and _EXPOSE.search(clause) for clause in _CLAUSE.split(lowered))


def python_signals(prompt: str | None, system: str | None, coding: bool) -> Signals:
    """`signals` in Python: the reference the compiled twin is checked against."""
    system_fp = None if system is None else exact_fingerprint(system)
    if prompt is None:
        return None, None, None, None, None, system_fp
    header = prompt_header(prompt)
    head = prompt[:MAX_ANALYSED_CHARS]
    return (exact_fingerprint(prompt), None if header is None else exact_fingerprint(header),
            template_fingerprint(head), elicits_chain_of_thought(head),
            looks_like_coding(head) if coding else None, system_fp)


def native_patterns() -> dict[str, str]:
    """This module's patterns as the compiled twin takes them (one source for each rule).

    The regex crate has no possessive repeats (greedy ones match the same here, see
    `_IDENT`), and Python's `\\s` also takes \\x1c-\\x1f; `_CODE_BLOCK` and `_NAME`
    (a look-behind) are written out by hand in the crate, which also has scanners of
    its own for some of these (used only for exactly these patterns).
    """
    return {
        "inline_code": _INLINE_CODE.pattern, "quoted": _QUOTED.pattern,
        "url": _URL.pattern.replace(r"\S", r"[^\s\x1c-\x1f]"),
        "ident": _IDENT.pattern.replace("++", "+").replace("*+", "*"),
        "number": _NUMBER.pattern, "word": _WORD.pattern, "coding": _CODING.pattern,
        "cot": _COT.pattern, "process": _PROCESS.pattern, "expose": _EXPOSE.pattern,
        "clause": _CLAUSE.pattern,
    }


def _compiled_twin() -> TextSignals | None:
    """The compiled `signals`, given this module's patterns (`native_patterns`)."""
    if NATIVE is None:
        return None
    twin: TextSignals = NATIVE.TextSignals(native_patterns(), CLAUSE_WORDS, MAX_ANALYSED_CHARS,
                                           HEADER_CHARS, HEADER_MIN_CHARS)
    return twin


#: the compiled twin of `signals` (None: Python only); `compiled.python_twin` sets it aside
TWIN = twin(__name__, "TWIN", _compiled_twin())


def signals(prompt: str | None, system: str | None, coding: bool) -> Signals:
    """The prompt's and system text's fingerprints and flags (see `Signals`).

    The compiled twin takes ASCII text and returns None for anything else, which
    the Python reference then takes: both give the same values on every input.
    """
    if TWIN is not None and (got := TWIN.signals(prompt, system, coding)) is not None:
        return got
    return python_signals(prompt, system, coding)
