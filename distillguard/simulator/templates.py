"""Campaign prompt text: the extraction templates, their slots and the CoT phrasings.

Why templates rather than the grammar: a campaign sends fixed wording around variable parts
that are numbers, identifiers, code or quoted strings, which is what a normalising
fingerprint collapses. Each clause of a template lists phrasings; the first is the
campaign's canonical wording, the others are used only by paraphrasing campaigns.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from distillguard.simulator.grammar import (
    _FMT,
    Grammar,
    _code_py,
    _code_ts,
    _ident,
    _json_record,
    _repo,
)
from distillguard.simulator.sampling import _pick

#: the phrases the ``{problem}`` and ``{goal}`` slots of campaign prompts are built from
PROBLEM_RULES: dict[str, tuple[str, ...]] = {
    "problem": (
        "find the longest {padj} subarray whose sum is at most K",
        "count the {padj} paths in a grid with blocked cells",
        "merge overlapping intervals and report the {padj} gaps",
        "schedule jobs with deadlines to maximise {pgoal}",
        "detect a cycle in a {pgraph} and return it",
        "compute the minimum edit distance between two {pstr}",
        "find the k-th smallest element in a {pstruct}",
        "design an LRU cache with {pgoal} guarantees",
        "return all {padj} permutations of a multiset",
        "partition an array into two sets with {pgoal}",
    ),
    "padj": ("strictly increasing", "distinct", "non-overlapping", "balanced", "shortest",
             "lexicographically smallest", "weighted", "palindromic"),
    "pgoal": ("total profit", "minimum difference", "O(1) operations", "fewest moves",
              "minimal latency", "maximum throughput"),
    "pgraph": ("directed graph", "linked list", "dependency graph", "state machine"),
    "pstr": ("strings", "DNA sequences", "token streams", "version strings"),
    "pstruct": ("BST", "sorted matrix", "stream of integers", "pair of sorted arrays"),
    "goal": (
        "make the {pthing} pass all tests after the {pchange}",
        "add {pfeature} to the {pthing}",
        "migrate the {pthing} from {pfrom} to {pto}",
        "find and fix the race condition in the {pthing}",
        "cut the p99 latency of the {pthing} in half",
    ),
    "pthing": ("payment service", "ingestion worker", "REST API", "scheduler", "auth module",
               "search indexer", "notification service", "ORM layer"),
    "pchange": ("dependency upgrade", "schema change", "API rename", "Python 3.12 upgrade"),
    "pfeature": ("rate limiting", "pagination", "audit logging", "retries with backoff",
                 "OAuth login", "caching"),
    "pfrom": ("REST", "MySQL", "callbacks", "Celery", "Flask"),
    "pto": ("gRPC", "Postgres", "async/await", "Kafka consumers", "FastAPI"),
}
#: the grammar of the ``{problem}`` and ``{goal}`` slots
PROBLEM_GRAMMAR = Grammar(PROBLEM_RULES, {})
#: the typed slots of campaign templates: name -> a function drawing its text
EXTRACTION_SLOTS: dict[str, Callable[[random.Random], str]] = {
    "ident": _ident, "ident2": _ident, "repo": _repo, "code_py": _code_py, "code_ts": _code_ts,
    "json": _json_record,
    "n": lambda rng: str(rng.randint(3, 40)),
    "m": lambda rng: str(_pick(rng, (10, 50, 100, 200, 500, 1000, 10**5, 10**6))),
    "problem": lambda rng: PROBLEM_GRAMMAR.expand(rng, "problem"),
    "goal": lambda rng: PROBLEM_GRAMMAR.expand(rng, "goal"),
}
#: phrasings that elicit a chain of thought
COT = ("Think step by step and show your full reasoning before the final answer.",
       "Reason step by step, showing all of your thinking before you answer.",
       "Before answering, lay out your complete chain of reasoning step by step.",
       "Explain your reasoning in detail, one step at a time, then answer.")
#: phrasings that ask for a detailed explanation of every step
COT_DETAIL = ("Explain your reasoning in detail at each step.",
              "At every step, explain in detail why you did it.",
              "Justify each step with a detailed explanation of your reasoning.")
#: system prompts of extraction accounts (``None``: no system prompt)
SYSTEM_EXTRACTION = (None, None,
                     "You are a world-class software engineer and meticulous reasoner.",
                     "You are an expert programmer. Always be thorough.")


@dataclass(frozen=True)
class Template:
    """A campaign prompt template: clauses of alternative phrasings around typed slots."""

    task: str  # the gateway task label of its prompts
    clauses: tuple[tuple[str, ...], ...]  # each clause's phrasings, the canonical one first
    movable_last: bool = True  # the CoT clause may move to the front when paraphrasing
    slots: tuple[str, ...] = field(init=False)  # slot names used by any phrasing, sorted

    def __post_init__(self) -> None:
        names = {name for clause in self.clauses for alt in clause
                 for _, name, _, _ in _FMT.parse(alt) if name}
        object.__setattr__(self, "slots", tuple(sorted(names)))

    def render(self, rng: random.Random, paraphrase: bool) -> str:
        """One prompt: fresh slot values in the canonical wording, or in a random phrasing
        (and clause order) of each clause when ``paraphrase``."""
        values = {name: EXTRACTION_SLOTS[name](rng) for name in self.slots}
        if not paraphrase:
            parts = [clause[0] for clause in self.clauses]
        else:
            parts = [_pick(rng, clause) for clause in self.clauses]
            if self.movable_last and rng.random() < 0.35:
                parts.insert(0, parts.pop())
        return " ".join(parts).format(**values)

#: templates of the loud single-account campaign
LOUD_TEMPLATES = (
    Template("coding", (
        ("Write a Python function `{ident}` that solves: \"{problem}\".",),
        ("It must handle inputs of up to {m} elements in under {n} ms.",),
        (COT[0],),
    )),
    Template("coding", (
        ("Here is a Python snippet:\n{code_py}\n",),
        ("Explain in detail what it does, list every bug, and rewrite it.",),
        (COT_DETAIL[0],),
    )),
    Template("agentic", (
        ("You are an autonomous software agent working in the repository `{repo}`.",),
        ("Your goal: \"{goal}\". Ticket #{n}.",),
        (("List every tool call you would make with its arguments, show your full reasoning "
          "for each step, and finish with the complete patch."),),
    )),
    Template("reasoning", (
        ("Solve this problem: \"{problem}\" with N = {m} and K = {n}.",),
        (("Walk through your chain of thought step by step, then give the final answer and "
          "its time complexity."),),
    )),
)

#: templates of the quiet coordinated (hydra) campaigns
HYDRA_TEMPLATES = (
    Template("coding", (
        ("Task {n}: implement `{ident}` in TypeScript so that it satisfies \"{problem}\".",
         "Task {n}: write `{ident}` in TypeScript; it has to satisfy \"{problem}\".",
         "Task {n}: in TypeScript, implement `{ident}` meeting this spec: \"{problem}\".",
         "Task {n}: create a TypeScript implementation of `{ident}` for \"{problem}\"."),
        (COT[1] + " Then give the final code.",
         "First show your complete step-by-step reasoning, then the final code.",
         "Give the final code only after reasoning through every step out loud.",
         "Lay out all your thinking step by step and end with the finished code."),
    )),
    Template("agentic", (
        (("You are a senior engineer operating as an agent with shell access. Repository: "
          "`{repo}`."),
         "Act as an autonomous senior engineer who can run shell commands in `{repo}`.",
         "Assume you are an agent with a terminal, working as a senior engineer on `{repo}`.",
         "You have shell access to `{repo}` and act as a senior engineering agent."),
        ("Objective: \"{goal}\".",
         "Your objective is \"{goal}\".",
         "The task is to \"{goal}\".",
         "What you must achieve: \"{goal}\"."),
        (("Describe each command you would run and why, reasoning step by step, then output "
          "the final diff."),
         ("For every command you would run, explain why with step-by-step reasoning; finish "
          "with the final diff."),
         ("Reason step by step about each command and its purpose, and end with the final "
          "diff."),
         "Walk through every command with your reasoning, then print the resulting diff."),
    )),
    Template("coding", (
        ("Review the following function and explain line by line what it does:\n{code_py}\n",
         "Go through this function line by line and explain what each part does:\n{code_py}\n",
         "Explain, line by line, the behaviour of this function:\n{code_py}\n",
         "Here is a function; describe what every line does:\n{code_py}\n"),
        ("Then write {n} unit tests for it.",
         "After that, write {n} unit tests covering it.",
         "Next, produce {n} unit tests for it.",
         "Finally add {n} unit tests for it."),
        (COT_DETAIL[0], COT_DETAIL[1], COT_DETAIL[2],
         "Make your reasoning explicit and detailed at every step."),
    )),
    Template("reasoning", (
        ("Problem #{n}: \"{problem}\". Constraints: 1 <= N <= {m}.",
         "Problem #{n} is \"{problem}\", where 1 <= N <= {m}.",
         "Consider problem #{n}: \"{problem}\" (constraints: 1 <= N <= {m}).",
         "Here is problem #{n}: \"{problem}\". Assume 1 <= N <= {m}."),
        (("Think step by step, justify every step of your reasoning, and then give the optimal "
          "algorithm in Python."),
         ("Justify every step of your step-by-step reasoning before giving the optimal Python "
          "algorithm."),
         ("Reason carefully step by step with a justification for each step, then write the "
          "optimal algorithm in Python."),
         ("Show each reasoning step and why it holds, and conclude with the optimal Python "
          "algorithm.")),
    )),
    Template("agentic", (
        (("Plan a multi-step tool-using workflow to \"{goal}\" using the tools `{ident}` and "
          "`{ident2}`."),
         "Design a multi-step workflow with the tools `{ident}` and `{ident2}` to \"{goal}\".",
         "Using the tools `{ident}` and `{ident2}`, plan a multi-step workflow to \"{goal}\".",
         "Lay out a tool-driven plan, with `{ident}` and `{ident2}`, to \"{goal}\"."),
        (("For each step give your full reasoning, the tool call in JSON, and the expected "
          "result."),
         ("Every step needs your complete reasoning, the JSON tool call and the expected "
          "result."),
         ("Give, per step, the full reasoning behind it, its JSON tool call and what you "
          "expect back."),
         ("Show for each step your whole chain of reasoning, the tool call as JSON, and the "
          "expected output.")),
    )),
)
#: templates of the extraction script an aged organic account turns to
PIVOT_TEMPLATES = (
    Template("coding", (
        ("Convert this record into a SQL INSERT for table `{ident}`:\n{json}\n",),
        (COT[2],),
    )),
    Template("coding", (
        ("Port this TypeScript to idiomatic Python and explain the differences:\n{code_ts}\n",),
        (COT_DETAIL[0],),
    )),
    Template("reasoning", (
        ("Puzzle {n}: \"{problem}\" for N = {m}.",),
        (COT[3],),
    )),
)

# ---- campaign families on public-dataset text (``families``)

#: system prompts of data-generation pipelines
SYSTEM_PIPELINE = (
    "You generate high-quality training examples. Follow the requested format exactly.",
    "You are a data generation engine. Output only the requested items, nothing else.",
)
#: the meta-prompt pipeline's fixed instruction header, before its sampled seed examples
META_HEADER = (
    "We are assembling a collection of realistic requests that people send to an AI "
    "assistant, each paired with an expert-quality answer. Below are several example "
    "requests from our seed set. Study their style, length and level of detail. Then write "
    "ONE new request that a different person could plausibly send: it must be on a topic "
    "different from every example, self-contained, and answerable without browsing. After "
    "the request, write the complete answer an expert would give, with working code where "
    "code is needed and every intermediate result where a computation is needed. Use exactly "
    "this format:\nRequest: <the new request>\nAnswer: <the complete answer>\nDo not mention "
    "the examples, do not number your output and do not add any commentary."
)
#: the meta-prompt's closing slot; its domain and difficulty vary per request
META_SLOT = "New request (domain: {domain}; difficulty {level} of 5):"
#: openers of the paraphrasing operator's one ask
REWRITE_OPENERS = (
    "", "", "Here's a task for you:", "Can you help with this?", "I need a solution to the "
    "following.", "Please work on this problem:", "Take a look at this one:", "My question:",
    "Task:", "I'm stuck on this.", "Could you solve this for me?", "Help me out with the "
    "following.", "Here is what I need:", "Quick one:", "So I have this problem.",
    "I'd like your help with this:", "Problem for you:", "Working on something, need help:",
)
#: the paraphrasing operator's ask for a full answer, in many surface forms
REWRITE_ASKS = (
    "Give a complete, detailed solution.", "Answer it thoroughly.",
    "I want the full solution, not just the result.", "Be as detailed as you can.",
    "Write out the entire solution.", "Don't skip anything in your answer.",
    "Provide a comprehensive answer.", "Cover every detail.", "Make the answer exhaustive.",
    "Be thorough.", "Go into real depth here.", "A long, complete answer please.",
    "Explain it fully.", "Leave nothing out.", "Please be exhaustive in the answer.",
    "I need a really complete write-up.",
)
#: closers of the paraphrasing operator's ask
REWRITE_CLOSERS = ("", "", "", "Thanks!", "Thanks in advance.", "Appreciate it.", "Cheers.",
                   "Thank you so much.")
#: ways of asking for the reasoning that vary the wording; only some match the detector's
#: chain-of-thought phrases
COT_VARIED = (
    "Think step by step.", "Show how you get there.", "Spell out your logic as you go.",
    "Lay out each stage of the solution before the result.", "Please show your work.",
    "Walk me through it.", "Explain each step and why it is needed.",
    "Break it down into steps and justify each one.", "Explain your reasoning in detail.",
    "Go through it carefully, one part at a time.", "Don't just give the answer, derive it.",
    "Include the full derivation.", "Reason it out before you answer.",
    "Tell me how you arrived at it, step by step.",
)
#: the cover-traffic operator's harvest templates: a dataset request quoted into fixed
#: wording that asks for the reasoning
QUOTED_TEMPLATES = (
    "Task #{n}: \"{payload}\"\n\n" + COT[0],
    "Solve the following request: \"{payload}\" " + COT[1],
    "You are an expert. Request {n}: \"{payload}\". " + COT[2],
)
