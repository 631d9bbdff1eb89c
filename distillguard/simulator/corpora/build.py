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
``label`` (the source's own category or intent).
"""

from __future__ import annotations

import argparse
import csv
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
    read: Callable[[Source, Callable[[str], bytes]], Iterator[Record]]


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
)

#: sources an independent evaluation uses: none of their text may enter the corpora
FORBIDDEN = ("arena-hard-auto", "natural-questions", "hh-rlhf", "codealpaca", "gpteacher",
             "stanford_alpaca", "self-instruct", "evol-teacher", "evol-instruct", "wizardlm",
             "magicoder", "toolbench", "human-eval", "humaneval", "mbpp")


def _shower(mirror: Path, src: Source) -> Callable[[str], bytes]:
    git_dir = mirror / src.repo.replace("/", "+") / "repo"

    def show(path: str) -> bytes:
        return subprocess.run(["git", f"--git-dir={git_dir}", "show", f"{src.commit}:{path}"],
                              check=True, capture_output=True).stdout

    return show


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
