"""Rebuild the simulator's prompt corpora from mirrored public repositories.

Not needed at run time: the simulator reads the files this script writes. It reads each
source at a pinned commit straight from a bare git mirror (``git show COMMIT:PATH``), keeps
the user-facing request text only, drops duplicates and empty lines, and writes one
gzip-compressed JSON-lines file per source (``mtime=0``, so a rebuild is byte-identical)
plus ``manifest.json``, which names every source's repository, commit, paths and licence.

Usage::

    python distillguard/simulator/corpora/build.py --mirror /work/.mirror --out DIR

``--mirror`` holds one bare git directory per repository, ``OWNER+NAME/repo``. The records
are ``{"id", "category", "text"}`` plus, where the source has them, ``followups`` (later
user turns of the same conversation), ``tools`` (function definitions offered) and
``label`` (the source's own category or intent). A path may be a pattern (``*`` within one
path segment), matched against the files of the pinned commit.

The sources after ``awesome_prompts`` (``DATASET_SOURCES``) are harvest sets: benchmark and
training-set items (task descriptions, word problems, trivia questions, agent-task
instructions) as a distillation pipeline sends them, which no user types. The simulator keeps
them out of its organic pools; only campaigns draw from them.
"""

from __future__ import annotations

import argparse
import ast
import csv
import fnmatch
import gzip
import hashlib
import io
import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

#: capability categories of the corpora (the simulator's pools)
CATEGORIES = ("coding", "agentic", "math", "writing", "chat")

Record = dict[str, object]


class _Git:
    """Reads files of one commit of a bare mirror: ``show(path)`` is the file's bytes,
    ``show.glob(pattern)`` the sorted paths matching ``pattern`` (``*`` within a segment)."""

    def __init__(self, git_dir: Path, commit: str) -> None:
        self.git_dir, self.commit = git_dir, commit

    def _git(self, *args: str) -> bytes:
        return subprocess.run(["git", f"--git-dir={self.git_dir}", *args], check=True,
                              capture_output=True).stdout

    def __call__(self, path: str) -> bytes:
        return self._git("show", f"{self.commit}:{path}")

    def glob(self, pattern: str) -> list[str]:
        names = self._git("ls-tree", "-r", "--name-only", "-z", self.commit).decode("utf-8")
        depth = pattern.count("/")
        return sorted(n for n in names.split("\0") if n and n.count("/") == depth
                      and fnmatch.fnmatchcase(n, pattern))


@dataclass(frozen=True)
class Source:
    """One public source: where it lives, under which licence, and how it is read."""

    name: str  # file stem of its corpus file
    repo: str  # GitHub owner/name
    commit: str  # the pinned commit every path is read at
    paths: tuple[str, ...]  # files read, relative to the repository root
    licence: str  # SPDX id of the licence of the data
    licence_path: str  # the licence file in the repository
    drawn: str  # how the sample was drawn
    read: Callable[[Source, _Git], Iterator[Record]]


def _clean(text: str) -> str:
    text = text.replace("\\n", "\n").strip()
    return re.sub(r"[ \t]+", " ", text)


def _jsonl(raw: bytes) -> Iterator[dict]:
    for line in raw.decode("utf-8").splitlines():
        if line.strip():
            yield json.loads(line)


def _gsm8k(src: Source, show: Callable[[str], bytes]) -> Iterator[Record]:
    for path in src.paths:
        split = path.rsplit("/", 1)[1].split(".")[0]
        for i, row in enumerate(_jsonl(show(path))):
            yield {"id": f"{split}-{i}", "category": "math", "text": _clean(row["question"])}


#: MT-bench and Vicuna-bench categories -> corpus category
BENCH_CATEGORIES = {
    "writing": "writing", "roleplay": "writing", "counterfactual": "writing",
    "reasoning": "math", "math": "math", "fermi": "math", "coding": "coding",
    "extraction": "chat", "stem": "chat", "humanities": "chat", "generic": "chat",
    "knowledge": "chat", "common-sense": "chat",
}


def _bench(src: Source, show: Callable[[str], bytes]) -> Iterator[Record]:
    for row in _jsonl(show(src.paths[0])):
        turns = [_clean(t) for t in row["turns"]]
        rec: Record = {"id": str(row["question_id"]),
                       "category": BENCH_CATEGORIES[row["category"]],
                       "text": turns[0], "label": row["category"]}
        if len(turns) > 1:
            rec["followups"] = turns[1:]
        yield rec


def _apibench(src: Source, show: Callable[[str], bytes]) -> Iterator[Record]:
    for path in src.paths:
        hub = path.split("/")[-2]
        for row in _jsonl(show(path)):
            yield {"id": f"{hub}-{row['question_id']}", "category": "coding",
                   "text": _clean(row["text"]), "label": hub}


def _user_text(turn: list[dict]) -> str | None:
    users = [m["content"] for m in turn if m.get("role") == "user" and m.get("content")]
    return _clean(users[-1]) if users else None


def _bfcl(src: Source, show: Callable[[str], bytes]) -> Iterator[Record]:
    for path in src.paths:
        for row in _jsonl(show(path)):
            turns = [t for t in (_user_text(turn) for turn in row["question"]) if t]
            if not turns:
                continue
            rec: Record = {"id": row["id"], "category": "agentic", "text": turns[0],
                           "label": row["id"].rsplit("_", 1)[0]}
            if "function" in row:
                rec["tools"] = len(row["function"])
            if len(turns) > 1:
                rec["followups"] = turns[1:]
            yield rec


def _nl2bash(src: Source, show: Callable[[str], bytes]) -> Iterator[Record]:
    for i, line in enumerate(show(src.paths[0]).decode("utf-8").splitlines()):
        text = re.sub(r"^\((?:GNU|BSD|OSX|Mac OS X?)[^)]*\)\s*", "", line.strip())
        if text:
            yield {"id": str(i), "category": "coding", "text": text}


def _clinc(src: Source, show: Callable[[str], bytes]) -> Iterator[Record]:
    data = json.loads(show(src.paths[0]))
    domain_of = {intent: domain for domain, intents in json.loads(show(src.paths[1])).items()
                 for intent in intents}
    for split in sorted(data):
        for i, (text, intent) in enumerate(data[split]):
            yield {"id": f"{split}-{i}", "category": "chat", "text": _clean(text),
                   "label": f"{domain_of.get(intent, 'oos')}/{intent}"}


def _awesome(src: Source, show: Callable[[str], bytes]) -> Iterator[Record]:
    rows = csv.DictReader(io.StringIO(show(src.paths[0]).decode("utf-8")))
    for i, row in enumerate(rows):
        yield {"id": str(i), "category": "writing", "text": _clean(row["prompt"]),
               "label": row["act"].strip()}


#: the most characters kept of an exercise's instructions (whole paragraphs, the first one
#: cut at a line break if it alone is longer)
EXERCISM_MAX_CHARS = 1_500


def _markdown_task(raw: str) -> str:
    """An exercise's instructions as a harvester sends them: markdown kept, the document
    heading (``# Instructions``, ``# Description``) dropped, whole paragraphs up to
    ``EXERCISM_MAX_CHARS``."""
    lines = [line.rstrip() for line in raw.replace("\r\n", "\n").split("\n")]
    while lines and (not lines[0] or lines[0].startswith("# ")):
        lines.pop(0)
    paras = [p.strip("\n") for p in re.split(r"\n\s*\n", "\n".join(lines)) if p.strip()]
    text = ""
    for para in paras:
        joined = f"{text}\n\n{para}" if text else para
        if len(joined) > EXERCISM_MAX_CHARS:
            if not text:  # a first paragraph over the cap: its first lines that fit
                kept = []
                for line in para.split("\n"):
                    if len("\n".join([*kept, line])) > EXERCISM_MAX_CHARS:
                        break
                    kept.append(line)
                text = "\n".join(kept) or para[:EXERCISM_MAX_CHARS]
            break
        text = joined
    return text.strip()


def _exercism(src: Source, show: _Git) -> Iterator[Record]:
    """Each live exercise's ``instructions.md``, else its ``description.md`` (exercises
    marked ``.deprecated`` skipped); label = the exercise's slug."""
    instructions, description, deprecated = (
        {p.split("/")[1]: p for p in show.glob(pattern)} for pattern in src.paths)
    for slug in sorted(set(instructions) | set(description)):
        if slug in deprecated:
            continue
        path = instructions.get(slug) or description[slug]
        yield {"id": slug, "category": "coding",
               "text": _markdown_task(show(path).decode("utf-8")), "label": slug}


#: CRUXEval's task statements (its ``prompts.py``, direct output and input prediction, the
#: few-shot examples left out): the instruction a harvest of the benchmark sends
CRUX_OUTPUT = ("You are given a Python function and an assertion containing an input to the "
               "function. Complete the assertion with a literal (no unsimplified expressions, "
               "no function calls) containing the output when executing the provided code on "
               "the given input, even if the function is incorrect or incomplete.")
CRUX_INPUT = ("You will be given a function f and an output in the form f(??) == output. Find "
              "any input such that executing f on the input leads to the given output. There "
              "may be multiple answers, but you should only output one.")


def _cruxeval(src: Source, show: Callable[[str], bytes]) -> Iterator[Record]:
    """Every CRUXEval sample twice: output prediction, then input prediction; the code as
    written (indentation kept); label = ``output`` or ``input``."""
    rows = list(_jsonl(show(src.paths[0])))
    for row in rows:
        code = row["code"].strip("\n")
        yield {"id": f"{row['id']}-output", "category": "coding", "label": "output",
               "text": f"{CRUX_OUTPUT}\n\n```python\n{code}\nassert f({row['input']}) == ??\n```"}
    for row in rows:
        code = row["code"].strip("\n")
        yield {"id": f"{row['id']}-input", "category": "coding", "label": "input",
               "text": f"{CRUX_INPUT}\n\n```python\n{code}\nassert f(??) == {row['output']}\n```"}


def _aqua(src: Source, show: Callable[[str], bytes]) -> Iterator[Record]:
    """Each AQuA-RAT question with its five options on one line (rationale and answer
    dropped); label = the split."""
    for path in src.paths:
        split = path.split(".")[0]
        for i, row in enumerate(_jsonl(show(path))):
            options = " ".join(_clean(o) for o in row["options"])
            yield {"id": f"{split}-{i}", "category": "math", "label": split,
                   "text": f"{_clean(row['question'])}\nAnswer Choices: {options}"}


def _svamp(src: Source, show: Callable[[str], bytes]) -> Iterator[Record]:
    """Each SVAMP problem: its Body, then its Question; label = its Type."""
    for row in json.loads(show(src.paths[0])):
        body = _clean(row["Body"])
        sep = " " if body.endswith((".", "?", "!")) else ". "
        yield {"id": row["ID"], "category": "math", "label": row["Type"],
               "text": f"{body}{sep}{_clean(row['Question'])}"}


def _strategyqa(src: Source, show: Callable[[str], bytes]) -> Iterator[Record]:
    """Each StrategyQA question (answer, facts and decomposition dropped); label = split."""
    for path in src.paths:
        split = path.rsplit("/", 1)[1].split(".")[0]
        for row in json.loads(show(path)):
            yield {"id": row["qid"], "category": "chat", "text": _clean(row["question"]),
                   "label": split}


def _task_instructions(source: str) -> Iterator[str]:
    """The ``instruction`` strings of a tau-bench task file, read from its syntax tree
    (``Task(instruction=...)``); the file is parsed, never executed."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if (kw.arg == "instruction" and isinstance(kw.value, ast.Constant)
                        and isinstance(kw.value.value, str)):
                    yield kw.value.value


def _tau_bench(src: Source, show: Callable[[str], bytes]) -> Iterator[Record]:
    """Every task's user instruction (the brief tau-bench's simulated customer acts on);
    label = the domain (``airline``, ``retail``)."""
    for path in src.paths:
        domain, stem = path.split("/")[-2], path.rsplit("/", 1)[1].removesuffix(".py")
        for i, text in enumerate(_task_instructions(show(path).decode("utf-8"))):
            yield {"id": f"{domain}-{stem}-{i}", "category": "agentic", "text": _clean(text),
                   "label": domain}


#: the parts of a tau2-bench structured user brief, in the order they are joined
TAU2_PARTS = ("reason_for_call", "known_info", "unknown_info", "task_instructions")


def _tau2_bench(src: Source, show: Callable[[str], bytes]) -> Iterator[Record]:
    """Every task's user instructions: a plain brief as written, a structured one as its
    reason for the call, known and unknown information and task instructions, a blank line
    between; label = the domain."""
    for path in src.paths:
        domain = path.split("/")[-2]
        for row in json.loads(show(path)):
            brief = row["user_scenario"]["instructions"]
            if isinstance(brief, dict):
                brief = "\n\n".join(str(brief[k]).strip() for k in TAU2_PARTS if brief.get(k))
            text = "\n".join(_clean(line) for line in brief.strip().split("\n"))
            yield {"id": f"{domain}-{row['id']}", "category": "agentic",
                   "text": re.sub(r"\n{3,}", "\n\n", text), "label": domain}


#: every source of the corpora, in the order they are written
SOURCES = (
    Source("gsm8k", "openai/grade-school-math", "3101c7d5072418e28b9008a6636bde82a006892c",
           ("grade_school_math/data/train.jsonl", "grade_school_math/data/test.jsonl"),
           "MIT", "LICENSE",
           "every question of the train and test splits (answers dropped)", _gsm8k),
    Source("mt_bench", "lm-sys/FastChat", "0e6d3e4beaab66f4d3f93db72541a4abab8af28d",
           ("fastchat/llm_judge/data/mt_bench/question.jsonl",), "Apache-2.0", "LICENSE",
           "all 80 questions; the second turn becomes a follow-up", _bench),
    Source("vicuna_bench", "lm-sys/FastChat", "0e6d3e4beaab66f4d3f93db72541a4abab8af28d",
           ("fastchat/llm_judge/data/vicuna_bench/question.jsonl",), "Apache-2.0", "LICENSE",
           "all 80 questions", _bench),
    Source("apibench", "ShishirPatil/gorilla", "6ea57973c7a6097fd7c5915698c54c17c5b1b6c8",
           tuple(f"gorilla/eval/eval-data/questions/{hub}/questions_{hub}_0_shot.jsonl"
                 for hub in ("huggingface", "tensorflowhub", "torchhub")),
           "Apache-2.0", "LICENSE",
           "every zero-shot APIBench question (the user's request for an API call)", _apibench),
    Source("bfcl", "ShishirPatil/gorilla", "6ea57973c7a6097fd7c5915698c54c17c5b1b6c8",
           tuple(f"berkeley-function-call-leaderboard/bfcl_eval/data/BFCL_v4_{part}.json"
                 for part in ("live_simple", "live_multiple", "live_parallel",
                              "live_parallel_multiple", "live_relevance", "live_irrelevance",
                              "simple_python", "simple_java", "simple_javascript", "multiple",
                              "parallel", "parallel_multiple", "multi_turn_base")),
           "Apache-2.0", "LICENSE",
           ("the user messages of every Berkeley Function Calling Leaderboard entry of these "
            "parts; later turns become follow-ups; tools = function definitions offered"),
           _bfcl),
    Source("nl2bash", "TellinaTool/nl2bash", "466c5fe873ab08c7cc0112ea1521cc6ad9c20992",
           ("data/bash/all.nl",), "MIT", "data/bash/LICENSE",
           "every natural-language description (the data is MIT; the repository's code is "
           "GPL-3.0 and is not used)", _nl2bash),
    Source("clinc_oos", "clinc/oos-eval", "828f8093932c8fe6ca7936c3d2e52903b1c523de",
           ("data/data_full.json", "data/domains.json"), "CC-BY-3.0", "LICENSE",
           ("every query of every split of data_full, in-scope and out-of-scope; label = "
            "domain/intent"), _clinc),
    Source("awesome_prompts", "f/awesome-chatgpt-prompts",
           "12468c363fd111361898b0e4a2b02483078f2ce9", ("prompts.csv",), "CC0-1.0", "LICENSE",
           "every prompt of prompts.csv as of 2024-01-07", _awesome),
    # harvest sets (``DATASET_SOURCES``): only the campaigns draw from these
    Source("exercism", "exercism/problem-specifications",
           "03f83310ed0547b902d211a05d23b3d74661df02",
           ("exercises/*/instructions.md", "exercises/*/description.md",
            "exercises/*/.deprecated"), "MIT", "LICENSE",
           ("every live exercise's instructions.md (else description.md), document heading "
            f"dropped, whole paragraphs up to {EXERCISM_MAX_CHARS} characters; deprecated "
            "exercises skipped; label = slug"), _exercism),
    Source("cruxeval", "facebookresearch/cruxeval", "190faf16d175b5847b0af05d937872b1fb395942",
           ("data/cruxeval.jsonl",), "MIT", "LICENSE",
           ("every sample twice: output prediction and input prediction, each with the task "
            "statement of CRUXEval's direct prompts (prompts.py, no few-shot examples); "
            "label = output or input"), _cruxeval),
    Source("aqua_rat", "deepmind/AQuA", "26b64ed1f22208c6742f47df547dfd65088ec30d",
           ("dev.json", "test.json"), "Apache-2.0", "LICENSE",
           ("every question of the dev and test splits with its five answer choices "
            "(rationales and answers dropped; train.json is not in the mirror); label = split"),
           _aqua),
    Source("svamp", "arkilpatel/SVAMP", "689d7ccac74b9983a2ac7cc3b264f441b99e7c53",
           ("SVAMP.json",), "MIT", "LICENSE",
           "all 1,000 problems, Body then Question (equation and answer dropped); label = Type",
           _svamp),
    Source("strategyqa", "eladsegal/strategyqa", "1ba1e97452e189569357876f2854b01357ffbe37",
           ("data/strategyqa/train.json", "data/strategyqa/dev.json"), "MIT", "LICENSE",
           "every question of the train and dev splits (answers and evidence dropped)",
           _strategyqa),
    Source("tau_bench", "sierra-research/tau-bench", "59a200c6d575d595120f1cb70fea53cef0632f6b",
           tuple(f"tau_bench/envs/{f}.py" for f in (
               "airline/tasks", "airline/tasks_test", "retail/tasks", "retail/tasks_dev",
               "retail/tasks_test", "retail/tasks_train")), "MIT", "LICENSE",
           ("every task's user instruction, read from the Python source's syntax tree "
            "(Task(instruction=...); never executed); label = domain"), _tau_bench),
    Source("tau2_bench", "sierra-research/tau2-bench", "a2c024725189473d2d7cea3a5cfdbcc67478e41f",
           tuple(f"data/tau2/domains/{d}.json" for d in (
               "airline/tasks", "retail/tasks", "banking_knowledge/tasks", "mock/tasks",
               "telecom/tasks_small")), "MIT", "LICENSE",
           ("every task's user instructions (a structured brief: reason for the call, known "
            "and unknown information, task instructions, a blank line between); label = "
            "domain; telecom from tasks_small.json (its full task file is not in the mirror)"),
           _tau2_bench),
)

#: sources an independent evaluation uses: none of their text may enter the corpora
FORBIDDEN = ("arena-hard-auto", "natural-questions", "hh-rlhf", "codealpaca", "gpteacher",
             "stanford_alpaca", "self-instruct", "evol-teacher", "evol-instruct", "wizardlm",
             "magicoder", "toolbench", "human-eval", "humaneval", "mbpp")


def _shower(mirror: Path, src: Source) -> _Git:
    return _Git(mirror / src.repo.replace("/", "+") / "repo", src.commit)


def build(mirror: Path, out: Path) -> dict:
    """Write every source's corpus file and the manifest into ``out``; return the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict = {"categories": list(CATEGORIES), "sources": []}
    for src in SOURCES:
        show = _shower(mirror, src)
        seen: set[str] = set()
        lines = []
        counts = dict.fromkeys(CATEGORIES, 0)
        for rec in src.read(src, show):
            key = " ".join(str(rec["text"]).lower().split())
            if len(key) < 8 or key in seen:
                continue
            seen.add(key)
            counts[str(rec["category"])] += 1
            lines.append(json.dumps(rec, ensure_ascii=False, sort_keys=True))
        data = ("\n".join(lines) + "\n").encode("utf-8")
        name = f"{src.name}.jsonl.gz"
        with gzip.GzipFile(out / name, "wb", compresslevel=9, mtime=0) as fh:
            fh.write(data)
        manifest["sources"].append({
            "name": src.name, "file": name, "repository": f"https://github.com/{src.repo}",
            "commit": src.commit, "paths": list(src.paths), "licence": src.licence,
            "licence_file": src.licence_path, "drawn": src.drawn, "records": len(lines),
            "per_category": {k: v for k, v in counts.items() if v},
            "licence_text_sha1": hashlib.sha1(show(src.licence_path)).hexdigest(),
        })
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--mirror`` and ``--out``; prints the counts per source."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mirror", type=Path, default=Path("/work/.mirror"))
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args(argv)
    manifest = build(args.mirror, args.out)
    for src in manifest["sources"]:
        print(f"{src['name']}: {src['records']} {src['per_category']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
