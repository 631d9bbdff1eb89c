"""How well template fingerprints group a template's fills and keep human prompts apart.

- Same-template rate: of N fills of one campaign template (numbers, names,
  code and quoted text varying), the share that get the template's most
  common fingerprint. For paraphrased templates (reworded clauses, moved
  clauses) it also reports how many distinct fingerprints N fills spread over:
  each must still be shared by many fills for fingerprint aggregates to link
  the accounts using it.
- Organic collision rate: of the first prompts of distinct organic accounts,
  the probability that two of them (different accounts) share a fingerprint,
  and the share of accounts whose prompt fingerprint some other account has.

Usage: python benchmarks/templates.py [--fills 2000] [--organic 5000]
Writes benchmarks/results/templates.md.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import Counter

from distillguard import simulator
from distillguard.models.text_signals import template_fingerprint

from perf.common import add_results_argument


def template_rates(fills: int, paraphrase: bool) -> list[tuple[str, float, int, int]]:
    """(template, share with the modal fingerprint, distinct fingerprints, fills of the rarest)."""
    rows = []
    rng = random.Random(11)
    templates = simulator.HYDRA_TEMPLATES + simulator.LOUD_TEMPLATES
    for i, template in enumerate(templates):
        counts = Counter(template_fingerprint(template.render(rng, paraphrase))
                         for _ in range(fills))
        modal = counts.most_common(1)[0][1]
        rows.append((f"{template.task}-{i}", modal / fills, len(counts), min(counts.values())))
    return rows


def organic_collisions(accounts: int) -> tuple[float, float, int]:
    """(pair collision probability, share of accounts sharing, prompts compared)."""
    cfg = simulator.SimConfig(seed=3, days=1.0, organic_accounts=accounts, loud_accounts=0)
    first: dict[str, str] = {}
    for ev in simulator.generate(cfg):
        if ev.get("prompt") and ev["account_id"] not in first and ev.get("turns", 1) == 1:
            first[ev["account_id"]] = template_fingerprint(ev["prompt"])
    counts = Counter(first.values())
    n = len(first)
    pairs = sum(c * (c - 1) / 2 for c in counts.values())
    shared = sum(c for c in counts.values() if c > 1)
    return pairs / (n * (n - 1) / 2), shared / n, n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fills", type=int, default=2000)
    parser.add_argument("--organic", type=int, default=5000)
    add_results_argument(parser)
    args = parser.parse_args(argv)
    lines = ["| template | wording | share with the modal fingerprint | distinct fingerprints "
             f"in {args.fills} fills | fills of the rarest |", "| --- | --- | --- | --- | --- |"]
    for paraphrase in (False, True):
        for name, share, distinct, rarest in template_rates(args.fills, paraphrase):
            wording = "paraphrased" if paraphrase else "fixed"
            lines.append(f"| {name} | {wording} | {share:.1%} | {distinct} | {rarest} |")
    pair, shared, n = organic_collisions(args.organic)
    lines += ["", f"Organic first prompts of {n} accounts: pair collision probability "
                  f"{pair:.2e}; accounts whose fingerprint another account shares: {shared:.2%}."]
    text = "\n".join(lines)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "templates.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
