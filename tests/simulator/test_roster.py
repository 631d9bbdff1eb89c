"""Tests for the account roster: ids that give nothing away, organic look-alikes."""

from __future__ import annotations

import re
from collections import defaultdict

from distillguard.simulator import SimConfig, generate, ground_truth

CFG = SimConfig(seed=11, days=1.0, organic_accounts=40, loud_accounts=1, hydra_accounts=12,
                pivot_accounts=1, pivot_day=0.5)


def test_account_ids_do_not_encode_label() -> None:
    ids = ground_truth(CFG)
    assert all(re.fullmatch(r"acct-\d{6}", a) for a in ids)
    extraction = sorted(a for a, label in ids.items() if label == "extraction")
    everyone = sorted(ids)
    assert extraction != everyone[-len(extraction):]  # not simply appended at the end


def test_nat_students_share_an_address() -> None:
    cfg = SimConfig(days=1.0, organic_accounts=20, loud_accounts=0,
                    persona_mix=(("nat_student", 1.0),))
    users_per_ip: dict[str, set[str]] = defaultdict(set)
    for ev in generate(cfg):
        users_per_ip[ev["client"]["ip"]].add(ev["account_id"])
    assert max(len(users) for users in users_per_ip.values()) >= 10
