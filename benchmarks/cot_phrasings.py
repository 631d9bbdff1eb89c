"""How often the CoT test catches requests for reasoning in words it was not written for.

Campaigns rotate the wording of "explain your reasoning". This measures
`distillguard.models.text_signals.elicits_chain_of_thought` on the FLAN v2
instruction templates (`benchmarks/data/flan_cot_templates.json`, Apache-2.0,
source and commit named in the file). Nothing in the detector was tuned on
them. A template is labelled CoT when FLAN trains the model to answer it with
its reasoning ({cot} or {chain_of_thought} in the target). Every other
template asks for the answer alone (or a summary, a translation...) and shows
how often the test fires on ordinary instructions. Inversions, whose input
holds the reasoning or the answer, are left out.

Some CoT templates carry no request a reader would see ("Next question: ...
Solution:", "... Hmm..."). The recall here is therefore a floor for what a
perfect test could reach, not a target of 100%.

Usage: python benchmarks/cot_phrasings.py [--out benchmarks/results]
Writes <out>/cot_phrasings.md.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from distillguard.models.text_signals import elicits_chain_of_thought

DATA = Path(__file__).parent / "data" / "flan_cot_templates.json"
#: what fills a template's slots: a short question, a passage and options, none asking
#: for reasoning, so the test sees only the template's own words
FILLERS = {
    "question": "a train travels 60 miles in 1.5 hours, what is its average speed",
    "options_": "OPTIONS:\n- yes\n- no",
    "answer": "yes",
}
PASSAGE = "The city council met on Tuesday to discuss the new park near the river."
_SLOT = re.compile(r"\{(\w+)\}")


def fill(template: str) -> str:
    """The template with every slot replaced by neutral text."""
    return _SLOT.sub(lambda m: FILLERS.get(m.group(1), PASSAGE), template)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    data = json.loads(DATA.read_text())
    flagged = {label: [t for t in data[label] if elicits_chain_of_thought(fill(t))]
               for label in ("cot", "direct")}
    caught = set(flagged["cot"])
    missed = [t for t in data["cot"] if t not in caught]
    table = [
        "| templates | count | flagged |",
        "| --- | --- | --- |",
        *(f"| {name} | {len(data[label])} | **{len(flagged[label])}** "
          f"({len(flagged[label]) / len(data[label]):.1%}) |"
          for label, name in (("cot", "CoT (the target is the reasoning)"),
                              ("direct", "direct (the target is the answer)"))),
    ]
    lines = [
        "# Chain-of-thought test on FLAN v2 instruction templates",
        "",
        f"`python benchmarks/cot_phrasings.py`; data: {data['source']} at "
        f"`{data['commit'][:12]}`, {data['licence']}.",
        "",
        *table,
        "",
        "CoT templates the test misses (slots shown as in FLAN):",
        "",
        *(f"- `{t!r}`" for t in missed),
        "",
        "Direct templates it flags:",
        "",
        *(f"- `{t!r}`" for t in flagged["direct"]),
        "",
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cot_phrasings.md").write_text("\n".join(lines))
    print("\n".join(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
